package hush

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// A Client is safe for concurrent use: one Client sends while it listens
// (what `hush chat` does). Under -race this catches unguarded transport
// state such as the relay token shared by send and listen.
func TestSendWhileListeningOnOneClient(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan Message, 16)
	done := make(chan error, 1)
	go func() {
		done <- bob.Listen(lctx, func(e Event) {
			if e.Message != nil {
				got <- *e.Message
			}
		})
	}()
	// Bob sends from several goroutines while his listener starts.
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := bob.Send(ctx, "alice", fmt.Sprint("b", i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("send while listening: %v", err)
	}
	// Bob's listener works: Alice's answer arrives live.
	if _, err := alice.Send(ctx, "bob", "answer"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Text != "answer" || m.From != "alice" {
			t.Fatalf("bob got %+v", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("alice's answer never arrived")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("listen: %v", err)
	}
	ms, err := alice.Sync(ctx)
	if err != nil || len(ms) != n {
		t.Fatalf("alice read %d messages (%v), want %d", len(ms), err, n)
	}
}

// In direct mode the broker resends a persistent session's queue right
// after the CONNACK, before the dial has returned: the message callback
// must be able to acknowledge those messages (it once used a client
// variable assigned only after the dial, a data race and a nil pointer).
func TestDirectQueuedMessagesAcknowledgedOnConnect(t *testing.T) {
	ctx := context.Background()
	broker := plainBroker(t)
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL(), BrokerURL: broker}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL(), BrokerURL: broker}, "bob")
	const n = 8
	for i := range n {
		if _, err := alice.Send(ctx, "bob", fmt.Sprint("q", i)); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := bob.Sync(ctx)
	if err != nil || len(ms) != n {
		t.Fatalf("bob read %d queued messages (%v), want %d", len(ms), err, n)
	}
	for i, m := range ms {
		if m.Text != fmt.Sprint("q", i) {
			t.Fatalf("message %d is %q", i, m.Text)
		}
	}
	// All were acknowledged: the broker has nothing left to resend.
	if again, err := bob.Sync(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second sync: %d messages, %v", len(again), err)
	}
}
