package hush

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Pinning the server key at Create: a server that signs with another key
// is refused before anything is registered or written, instead of being
// trusted on first use.
func TestCreateRefusesUnexpectedServerKey(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	home := filepath.Join(t.TempDir(), "a")
	wrong := strings.Repeat("0123 ", 8)
	_, err := Create(ctx, Options{Home: home, Passphrase: []byte("pa"), ServerURL: srv.HTTPURL(), ServerKey: wrong}, "alice", "")
	var ke *ServerKeyChangedError
	if !errors.Is(err, ErrServerKeyMismatch) || !errors.As(err, &ke) || ke.Served != srv.Fingerprint() || errors.Is(err, ErrServerKeyChanged) {
		t.Fatalf("Create with a wrong server key: %v, want ErrServerKeyMismatch naming %s", err, srv.Fingerprint())
	}
	if _, err := os.Stat(home); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused Create left %s behind (%v)", home, err)
	}
	// The name was not registered: the same name is free with the right key,
	// typed without spaces and in upper case.
	typed := strings.ToUpper(strings.ReplaceAll(srv.Fingerprint(), " ", ""))
	c := create(t, Options{Home: home, Passphrase: []byte("pa"), ServerURL: srv.HTTPURL(), ServerKey: typed}, "alice")
	if c.ServerFingerprint() != srv.Fingerprint() {
		t.Fatalf("pinned %q, server has %q", c.ServerFingerprint(), srv.Fingerprint())
	}
	c.Close()
	if _, err := Open(ctx, Options{Home: home, Passphrase: []byte("pa"), ServerKey: wrong}); !errors.Is(err, ErrServerKeyMismatch) {
		t.Fatalf("Open with another expected key: %v", err)
	}
}

// countingTransport counts the requests an http.Client sends.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// Options.HTTPClient carries the SDK's HTTP requests (a proxy or TLS roots
// set there apply), and Options.Logger receives its diagnostics.
func TestOptionsHTTPClientAndLogger(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	ta, tb := &countingTransport{}, &countingTransport{}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL(),
		HTTPClient: &http.Client{Transport: ta}}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL(),
		HTTPClient: &http.Client{Transport: tb}, Logger: log}, "bob")
	if ta.n.Load() == 0 || tb.n.Load() == 0 {
		t.Fatalf("Create sent %d and %d requests through Options.HTTPClient", ta.n.Load(), tb.n.Load())
	}
	before := ta.n.Load()
	mustSend(t, alice, "bob", "hello")
	if ta.n.Load() == before {
		t.Fatal("Send did not use Options.HTTPClient")
	}
	before = tb.n.Load()
	sendRaw(t, alice, bob, []byte{0x01, 2, 3})
	if ms, err := bob.Sync(ctx); len(ms) != 1 || err == nil {
		t.Fatalf("sync: %v %v", ms, err)
	}
	if tb.n.Load() == before {
		t.Fatal("Sync did not use Options.HTTPClient")
	}
	if !strings.Contains(logs.String(), "refused") {
		t.Fatalf("the refused envelope was not logged: %q", logs.String())
	}

	// A client whose transport fails reports the server unreachable, as
	// this package's error type.
	failing := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("proxy said no") })}
	_, err := Create(ctx, Options{Home: filepath.Join(dir, "c"), Passphrase: []byte("pc"), ServerURL: srv.HTTPURL(), HTTPClient: failing}, "carol", "")
	var ue *UnreachableError
	if !errors.Is(err, ErrServerUnreachable) || !errors.As(err, &ue) || ue.URL != srv.HTTPURL() {
		t.Fatalf("Create through a failing HTTP client: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The SDK reads no environment: without Options.Home it refuses instead of
// picking a directory from $HUSH_HOME.
func TestNoHomeIsRefused(t *testing.T) {
	t.Setenv("HUSH_HOME", t.TempDir())
	if _, err := Open(context.Background(), Options{Passphrase: []byte("p")}); !errors.Is(err, ErrNoHome) {
		t.Fatalf("Open without Home: %v", err)
	}
}
