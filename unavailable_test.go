package hush

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hush-chat/hush/internal/server"
)

// Regression (issue 9 item 11): while the server's store is failing it
// answers 503 unavailable with a Retry-After. A send then returns at once
// as queued, says in one line that the server is temporarily unavailable,
// keeps the message in the outbox, and delivers it once the server works
// again.
func TestSendWhileStoreUnavailableStaysQueued(t *testing.T) {
	ctx := context.Background()
	srv := startServerWith(t, func(*server.Config) {})
	target, _ := url.Parse(srv.HTTPURL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	var failing atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/envelopes") {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"the server cannot reach its storage right now; try again later"}}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: front.URL}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")

	failing.Store(true)
	m, err := alice.Send(ctx, "bob", "while the disk is full")
	t.Logf("send during the outage: %v; message shows %q", err, m.Error)
	if !errors.Is(err, ErrQueued) || m.State != StateSending || !strings.Contains(m.Error, "temporarily unavailable") ||
		strings.Contains(m.Error, "\n") {
		t.Fatalf("send while the store fails: %+v %v", m, err)
	}
	failing.Store(false)
	rep, err := alice.RetrySends(ctx)
	if err != nil || len(rep.Delivered) != 1 || rep.Delivered[0].State != StateSent {
		t.Fatalf("retry: %+v %v", rep, err)
	}
	if got, err := bob.Sync(ctx); err != nil || strings.Join(texts(got), "|") != "while the disk is full" {
		t.Fatalf("bob got %q %v", texts(got), err)
	}
}
