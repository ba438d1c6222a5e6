package hush

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// sendRaw stores env in to's mailbox through the relay's HTTP API, with
// from's relay token: what any account can do.
func sendRaw(t *testing.T, from, to *Client, env []byte) {
	t.Helper()
	ctx := context.Background()
	tr, err := from.transport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tr.(*relayTransport).token(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := from.api.Send(ctx, s.Token, to.Mailbox(), env); err != nil {
		t.Fatal(err)
	}
}

// Nothing lost silently: Sync returns the good messages and reports every
// envelope it refused, not only the first.
func TestSyncReportsEveryRefusedEnvelope(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")

	garbage := func() []byte {
		b := make([]byte, 300)
		rand.Read(b)
		b[0] = 0x01 // looks like a sealed envelope
		return b
	}
	sendRaw(t, alice, bob, garbage())
	mustSend(t, alice, "bob", "one")
	sendRaw(t, alice, bob, garbage())
	sendRaw(t, alice, bob, garbage()[:40])
	mustSend(t, alice, "bob", "two")

	ms, err := bob.Sync(ctx)
	if len(ms) != 2 || ms[0].Text != "one" || ms[1].Text != "two" {
		t.Fatalf("bob read %+v, want one and two", ms)
	}
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("sync error %v, want a *RefusedError", err)
	}
	if len(re.Reasons) != 3 || re.Err != nil {
		t.Fatalf("refused %d envelopes (%v), want 3 and no other error", len(re.Reasons), re)
	}
	for _, r := range re.Reasons {
		if !strings.Contains(r.Error(), "cannot open") {
			t.Fatalf("reason %q does not say why", r)
		}
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "3 ") {
		t.Fatalf("error is not one line naming the count: %q", msg)
	}
	// The refused envelopes were acknowledged: they do not come back.
	if again, err := bob.Sync(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second sync: %v %v", again, err)
	}
}

// Regression: Sync dropped silently the envelopes it could not read and
// answered with a request for a new session (a profile restored from a
// copy, a sender's lost state): each must reach Sync's caller in its
// *RefusedError, as SyncEvents reports it as an event.
func TestSyncReportsUnreadableEnvelopes(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	ao := Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}
	alice := create(t, ao, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	mustSend(t, alice, "bob", "hello")
	mustSend(t, bob, "alice", "hi")
	syncErrs(t, alice)
	syncErrs(t, bob)
	alice.Close()
	copyProfile(t, ao.Home, filepath.Join(dir, "backup"))
	alice, err := Open(ctx, ao)
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "bob", "lost")
	syncErrs(t, bob)
	alice.Close()
	copyProfile(t, filepath.Join(dir, "backup"), ao.Home)
	if alice, err = Open(ctx, ao); err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	mustSend(t, alice, "bob", "written after the restore")

	ms, err := bob.Sync(ctx)
	var re *RefusedError
	var se *SessionResetError
	if len(ms) != 0 || !errors.As(err, &re) || len(re.Reasons) != 1 || !errors.As(err, &se) || !se.Asked || !errors.Is(err, ErrRefused) {
		t.Fatalf("bob's Sync: %v %v, want a *RefusedError holding the reset request", ms, err)
	}
}
