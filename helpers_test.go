package hush

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/hush-chat/hush/internal/server"
)

func hexs(b []byte) string { return hex.EncodeToString(b) }

func startServer(t *testing.T) *server.Server { return startServerB(t) }

func startServerB(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.StartLocal(context.Background(), filepath.Join(t.TempDir(), "server"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func create(t *testing.T, o Options, name string) *Client {
	t.Helper()
	c, err := Create(context.Background(), o, name, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
