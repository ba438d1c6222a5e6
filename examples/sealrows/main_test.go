package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/server"
)

func TestRun(t *testing.T) {
	ctx := context.Background()
	srv, err := server.StartLocal(ctx, filepath.Join(t.TempDir(), "server"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	var out bytes.Buffer
	rows := []string{"alice,engineering,100", "bob,sales,120"}
	if err := run(ctx, &out, srv.HTTPURL(), t.TempDir(), 2, rows); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{`row 1 opened by reader2-`, `"alice,engineering,100", sealed by writer-`, `row 2 opened by`, `"bob,sales,120"`, "row 1 refused to outsider-"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
