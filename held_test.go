package hush

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// syncEvents syncs c and returns the texts of the new messages and the
// other events.
func syncEvents(t *testing.T, c *Client) (texts []string, events []Event) {
	t.Helper()
	ms, err := c.SyncEvents(context.Background(), func(e Event) { events = append(events, e) })
	if err != nil {
		t.Fatalf("%s sync: %v", c.Username(), err)
	}
	for _, m := range ms {
		texts = append(texts, m.From+":"+m.Text)
	}
	return texts, events
}

func historyTexts(t *testing.T, c *Client, peer string) []string {
	t.Helper()
	h, err := c.History(context.Background(), peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range h {
		out = append(out, m.From+":"+m.Text)
	}
	return out
}

// Regression: the first messages from a contact's new identity key were
// acknowledged and lost. They are held across restarts, reported, kept
// when the user refuses the key, and delivered in order on accept.
func TestMessagesFromNewKeyHeldUntilAccepted(t *testing.T) {
	ctx := context.Background()
	srv := startServerReuse(t)
	dir := t.TempDir()
	opts := Options{Home: filepath.Join(dir, "alice"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}
	alice := create(t, opts, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "bob"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "bob")
	mustSend(t, alice, "bob", "hello")
	bob2 := newKeyFor(t, bob, srv, filepath.Join(dir, "bob2"))
	mustSend(t, bob2, "alice", "first")
	mustSend(t, bob2, "alice", "second")

	texts, events := syncEvents(t, alice)
	if len(texts) != 0 || len(events) != 2 {
		t.Fatalf("sync: messages %q, events %+v", texts, events)
	}
	for i, e := range events {
		if e.Held == nil || e.Held.From != "bob" || e.Held.Count != i+1 || e.Err != nil {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	// Nothing is pending on the relay: the envelopes are held here.
	if p := pending(t, alice); len(p) != 0 {
		t.Fatalf("%d envelopes still on the relay", len(p))
	}

	// Held envelopes survive a restart.
	alice.Close()
	alice, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if ct := mustContact(t, alice, "bob"); ct.Held != 2 || !ct.Changed {
		t.Fatalf("contact after restart: %+v", ct)
	}
	if h := historyTexts(t, alice, "bob"); !slices.Equal(h, []string{"alice:hello"}) {
		t.Fatalf("history before accept: %q", h)
	}
	// Refusing the key keeps them.
	if _, err := alice.RejectIdentity(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if ct := mustContact(t, alice, "bob"); ct.Held != 2 {
		t.Fatalf("held after reject: %d", ct.Held)
	}

	var got []string
	err = alice.AcceptIdentity(ctx, "bob", func(e Event) {
		if e.Message == nil {
			t.Errorf("event on accept: %+v", e)
			return
		}
		got = append(got, e.Message.From+":"+e.Message.Text)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bob:first", "bob:second"}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered on accept: %q", got)
	}
	if h := historyTexts(t, alice, "bob"); !slices.Equal(h, append([]string{"alice:hello"}, want...)) {
		t.Fatalf("history after accept: %q", h)
	}
	if ct := mustContact(t, alice, "bob"); ct.Held != 0 {
		t.Fatalf("still held after accept: %d", ct.Held)
	}
	// The conversation goes on in both directions.
	mustSend(t, bob2, "alice", "third")
	if texts, _ := syncEvents(t, alice); !slices.Equal(texts, []string{"bob:third"}) {
		t.Fatalf("after accept: %q", texts)
	}
	mustSend(t, alice, "bob", "welcome back")
	if texts, _ := syncEvents(t, bob2); !slices.Equal(texts, []string{"alice:welcome back"}) {
		t.Fatalf("bob2: %q", texts)
	}
}

// Envelopes beyond the bound are not held: each is reported as dropped.
func TestHeldMessagesBounded(t *testing.T) {
	srv := startServerReuse(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "alice"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "alice")
	alice.limits.held = 2
	bob := create(t, Options{Home: filepath.Join(dir, "bob"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "bob")
	mustSend(t, alice, "bob", "hello")
	bob2 := newKeyFor(t, bob, srv, filepath.Join(dir, "bob2"))
	for _, s := range []string{"1", "2", "3"} {
		mustSend(t, bob2, "alice", s)
	}
	_, events := syncEvents(t, alice)
	if len(events) != 3 || events[1].Held == nil || events[1].Held.Count != 2 || !errors.Is(events[2].Err, ErrIdentityChanged) {
		t.Fatalf("events %+v", events)
	}
	var got []string
	if err := alice.AcceptIdentity(context.Background(), "bob", func(e Event) {
		if e.Message != nil {
			got = append(got, e.Message.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("delivered %q", got)
	}
}
