package main

import (
	"bytes"
	"context"
	"testing"
)

// The output is what README promises `go run ./examples/quickstart` prints.
const wantOutput = `server started
alice and bob registered
alice -> bob: Hello Bob, this is end-to-end encrypted.
bob -> alice: Hi Alice! Only the two of us can read this.
`

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != wantOutput {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), wantOutput)
	}
}
