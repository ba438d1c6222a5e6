package hushtest_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/hushtest"
)

func syncOne(t *testing.T, c *hush.Client) hush.Message {
	t.Helper()
	msgs, err := c.Sync(context.Background())
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%s sync: %+v, %v", c.Username(), msgs, err)
	}
	return msgs[0]
}

func TestTwoClientsExchangeMessages(t *testing.T) {
	ctx := context.Background()
	srv := hushtest.NewServer(t)
	alice, bob := srv.NewClient(t, "alice"), srv.NewClient(t, "bob")
	if alice.ServerURL() != srv.URL() {
		t.Fatalf("client on %q, server at %q", alice.ServerURL(), srv.URL())
	}
	if _, err := alice.Send(ctx, "bob", "ping"); err != nil {
		t.Fatal(err)
	}
	if m := syncOne(t, bob); m.From != "alice" || m.To != "bob" || m.Text != "ping" {
		t.Fatalf("bob got %+v", m)
	}
	if _, err := bob.Send(ctx, "alice", "pong"); err != nil {
		t.Fatal(err)
	}
	if m := syncOne(t, alice); m.From != "bob" || m.Text != "pong" {
		t.Fatalf("alice got %+v", m)
	}
}

func TestListenDeliversLive(t *testing.T) {
	srv := hushtest.NewServer(t)
	alice, bob := srv.NewClient(t, "alice"), srv.NewClient(t, "bob")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan hush.Message, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		err := bob.Listen(ctx, func(e hush.Event) {
			if e.Message != nil {
				got <- *e.Message
			}
		})
		if err != nil {
			t.Errorf("listen: %v", err)
		}
	})
	if _, err := alice.Send(ctx, "bob", "live"); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m.From != "alice" || m.Text != "live" {
		t.Fatalf("bob heard %+v", m)
	}
	cancel()
	wg.Wait()
}

func TestServerAndClientsGoAwayWithTheTest(t *testing.T) {
	var url string
	var alice *hush.Client
	t.Run("inner", func(t *testing.T) {
		srv := hushtest.NewServer(t)
		url, alice = srv.URL(), srv.NewClient(t, "alice")
		if r, err := http.Get(url + "/healthz"); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("healthz while running: %v %v", r, err)
		}
	})
	if r, err := http.Get(url + "/healthz"); err == nil {
		r.Body.Close()
		t.Fatal("the server still answers after its test ended")
	}
	// History reads only the profile: it fails only because the client
	// was closed.
	if _, err := alice.History(context.Background(), "bob", 0); !errors.Is(err, hush.ErrClosed) {
		t.Fatalf("History after the test ended: %v, want hush.ErrClosed", err)
	}
}

func TestStartedServerOutsideATest(t *testing.T) {
	ctx := context.Background()
	srv, err := hushtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(filepath.Dir(srv.Options().Home))
	alice, err := srv.Client(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.Client(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "bob", "no testing.TB"); err != nil {
		t.Fatal(err)
	}
	if m := syncOne(t, bob); m.Text != "no testing.TB" {
		t.Fatalf("bob got %+v", m)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.History(ctx, "bob", 0); err == nil {
		t.Fatal("Close left a client open")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Close left %s behind: %v", dir, err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOptionsReopenAProfile(t *testing.T) {
	ctx := context.Background()
	srv := hushtest.NewServer(t)
	o := srv.Options()
	c, err := hush.Create(ctx, o, "carol", "")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if o2 := srv.Options(); o2.Home == o.Home {
		t.Fatal("two profiles share a home")
	}
	c, err = hush.Open(ctx, hush.Options{Home: o.Home, Passphrase: []byte(hushtest.Passphrase)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Username() != "carol" || c.ServerURL() != srv.URL() {
		t.Fatalf("reopened %s on %s", c.Username(), c.ServerURL())
	}
}
