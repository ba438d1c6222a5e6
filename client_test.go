package hush

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

func TestConversationOverTheRelay(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")

	// Bob listens live while Alice sends several messages: every one
	// arrives once, in order.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan Message, 32)
	done := make(chan error, 1)
	go func() {
		done <- bob.Listen(lctx, func(e Event) {
			if e.Message != nil {
				got <- *e.Message
			}
		})
	}()
	for i := range 10 {
		if _, err := alice.Send(ctx, "bob", fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		select {
		case m := <-got:
			if m.Text != fmt.Sprint("m", i) || m.From != "alice" || m.Outgoing {
				t.Fatalf("message %d: %+v", i, m)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("message %d never arrived", i)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("listen: %v", err)
	}
	// Everything was acknowledged after storing: nothing is pending.
	if again, err := bob.Sync(ctx); err != nil || len(again) != 0 {
		t.Fatalf("pending after listen: %v %v", again, err)
	}
	// Bob answers; Alice's history has both sides in order.
	if _, err := bob.Send(ctx, "alice", "ack"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := alice.History(ctx, "bob", 0)
	if err != nil || len(h) != 11 || h[10].Text != "ack" || !h[0].Outgoing || h[0].State != StateSent {
		t.Fatalf("history %+v %v", h, err)
	}
}

func TestWrongPassphraseAndNoProfile(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	c := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("right"), ServerURL: srv.HTTPURL()}, "alice")
	c.Close()
	if _, err := Open(context.Background(), Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("wrong")}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("got %v", err)
	}
	if _, err := Open(context.Background(), Options{Home: filepath.Join(dir, "none"), Passphrase: []byte("x")}); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("got %v", err)
	}
	if _, err := Create(context.Background(), Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("x"), ServerURL: srv.HTTPURL()}, "alice2", ""); !errors.Is(err, ErrProfileExists) {
		t.Fatalf("got %v", err)
	}
	if _, err := Create(context.Background(), Options{Home: filepath.Join(dir, "c"), Passphrase: []byte("x"), ServerURL: srv.HTTPURL()}, "alice", ""); !errors.Is(err, ErrUsernameTaken) {
		t.Fatalf("got %v", err)
	}
	if _, err := Create(context.Background(), Options{Home: filepath.Join(dir, "d"), Passphrase: []byte("x"), ServerURL: "http://127.0.0.1:1"}, "dora", ""); !errors.Is(err, ErrServerUnreachable) {
		t.Fatalf("got %v", err)
	}
}

func TestPreKeysReplenished(t *testing.T) {
	// Each first contact uses one of Bob's one-time prekeys; when fewer
	// than refillBelow are left, Bob's next sync uploads new ones.
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "bob")
	counts := func() int {
		n, err := bob.api.PreKeyCounts(ctx, "bob", 1)
		if err != nil {
			t.Fatal(err)
		}
		return n.OneTimeRemaining
	}
	if n := counts(); n != initialOneTime {
		t.Fatalf("start with %d one-time prekeys", n)
	}
	// As many first contacts (through the store: the directory hands
	// one account one of them a day).
	for i := range initialOneTime - refillBelow + 1 {
		if _, err := srv.Store().TakeOneTimePreKey(ctx, "bob", 1, store.KindOneTime); err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
	}
	if n := counts(); n >= refillBelow {
		t.Fatalf("%d left", n)
	}
	if _, err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := counts(); n < initialOneTime {
		t.Fatalf("after sync %d one-time prekeys, want at least %d", n, initialOneTime)
	}
}

// Regression (issue 8, item 14): sync used to sort a sender's messages by
// the sender's clock, so a clock that jumped back reversed them, and sync
// and history disagreed. Both give the order the messages came in.
func TestSenderClockGoingBackDoesNotReorder(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	clock := []time.Time{time.Now(), time.Now().Add(-time.Hour)} // the second send's clock is an hour behind
	var calls int
	now := func() time.Time { return clock[min(calls, 1)] }
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL(), Now: now}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	for _, text := range []string{"first", "second"} {
		if _, err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
		calls++
	}
	got, err := bob.Sync(ctx)
	if err != nil || len(got) != 2 || got[0].Text != "first" || got[1].Text != "second" {
		t.Fatalf("sync: %q %v", texts(got), err)
	}
	h, err := bob.History(ctx, "alice", 0)
	if err != nil || len(h) != 2 || h[0].Text != "first" || h[1].Text != "second" {
		t.Fatalf("history: %+v %v", h, err)
	}
}

func TestSimultaneousFirstMessages(t *testing.T) {
	// Both users start a session with each other before either has read
	// anything: each must read the other's first messages, and the
	// conversation must go on afterwards on one agreed session.
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "bob")
	for i := range 2 {
		if _, err := alice.Send(ctx, "bob", fmt.Sprint("a", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Send(ctx, "alice", fmt.Sprint("b", i)); err != nil {
			t.Fatal(err)
		}
	}
	texts := func(c *Client) []string {
		ms, err := c.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.Text)
		}
		return out
	}
	if got := texts(bob); fmt.Sprint(got) != "[a0 a1]" {
		t.Fatalf("bob read %v", got)
	}
	if got := texts(alice); fmt.Sprint(got) != "[b0 b1]" {
		t.Fatalf("alice read %v", got)
	}
	// Messages sent on either side's pre-agreement session still arrive,
	// and the conversation continues both ways.
	for round := range 3 {
		if _, err := alice.Send(ctx, "bob", fmt.Sprint("a-next", round)); err != nil {
			t.Fatal(err)
		}
		if got := texts(bob); fmt.Sprint(got) != fmt.Sprintf("[a-next%d]", round) {
			t.Fatalf("round %d: bob read %v", round, got)
		}
		if _, err := bob.Send(ctx, "alice", fmt.Sprint("b-next", round)); err != nil {
			t.Fatal(err)
		}
		if got := texts(alice); fmt.Sprint(got) != fmt.Sprintf("[b-next%d]", round) {
			t.Fatalf("round %d: alice read %v", round, got)
		}
	}
}
