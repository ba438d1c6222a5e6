package hush

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hush-chat/hush/internal/server"
)

// Regression test for issue 9, item 5, seen from the owner: when the
// directory had to hold back a device's one-time prekeys because its
// bundles were fetched faster than the server's limit, the owner's next
// prekey check says so, once; the conversations started meanwhile work.
func TestSecurityPreKeyDrainWarnsOwner(t *testing.T) {
	ctx := context.Background()
	srv := startServerWith(t, func(c *server.Config) { c.PreKeyDeviceMax = 2 })
	dir := t.TempDir()
	opts := func(name string) Options {
		return Options{Home: filepath.Join(dir, name), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}
	}
	bob := create(t, opts("bob"), "bob")
	warnings := func() []error {
		t.Helper()
		var got []error
		if _, err := bob.SyncEvents(ctx, func(e Event) {
			if errors.Is(e.Err, ErrPreKeysDraining) {
				got = append(got, e.Err)
			}
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if w := warnings(); len(w) != 0 {
		t.Fatalf("warned before anything happened: %v", w)
	}
	const senders = 4
	for i := range senders {
		name := fmt.Sprintf("sender%d", i)
		s := create(t, opts(name), name)
		if _, err := s.Send(ctx, "bob", "hello from "+name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var w []error
	msgs, err := bob.SyncEvents(ctx, func(e Event) {
		if errors.Is(e.Err, ErrPreKeysDraining) {
			w = append(w, e.Err)
		}
	})
	if err != nil || len(msgs) != senders {
		t.Fatalf("bob received %d of %d first messages: %v", len(msgs), senders, err)
	}
	var de *PreKeysDrainingError
	if len(w) != 1 || !errors.As(w[0], &de) || de.Withheld != senders-2 || de.Limit != 2 || de.Requesters != 2 {
		t.Fatalf("warnings %v", w)
	}
	t.Logf("owner's warning: %v", w[0])
	if w := warnings(); len(w) != 0 {
		t.Fatalf("the same incident reported again: %v", w)
	}
}

// A client starting more conversations at once than the server's bundle
// rate allows waits as the server says, and the send goes through.
func TestBundleFetchWaitsWhenAskedToSlowDown(t *testing.T) {
	ctx := context.Background()
	srv := startServerWith(t, func(c *server.Config) { c.BundleBurst, c.BundleRate, c.MetricsListen = 1, 2, "127.0.0.1:0" })
	dir := t.TempDir()
	opts := func(name string) Options {
		return Options{Home: filepath.Join(dir, name), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}
	}
	alice := create(t, opts("alice"), "alice")
	create(t, opts("bob"), "bob")
	create(t, opts("carol"), "carol")
	for _, to := range []string{"bob", "carol"} {
		if _, err := alice.Send(ctx, to, "hi"); err != nil {
			t.Fatalf("send to %s: %v", to, err)
		}
	}
	resp, err := http.Get(srv.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !regexp.MustCompile(`hush_directory_requests_total\{code="rate_limited",op="bundle"\} [1-9]`).Match(b) {
		t.Fatal("the server never asked the client to slow down: the test tests nothing")
	}
}
