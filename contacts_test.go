package hush

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/server"
)

// startServerReuse starts a server that lets a deleted username be
// registered again under another key: how a contact's key changes.
func startServerReuse(t *testing.T) *server.Server {
	t.Helper()
	cfg := server.Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", filepath.Join(t.TempDir(), "server")
	cfg.AllowUsernameReuse = true
	s, err := server.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// reregister registers c's own identity and device again (after its
// account was deleted): the directory then serves c's key once more.
func reregister(t *testing.T, c *Client) {
	t.Helper()
	ctx := context.Background()
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		rb, err := tx.GetSecret(secretKeyring)
		if err != nil {
			return err
		}
		ring, err := pqxdh.ParseKeyring(rb)
		if err != nil {
			return err
		}
		otp, err := ring.GenerateOneTime(10)
		if err != nil {
			return err
		}
		kem, err := ring.GenerateKEMOneTime(c.id, 2)
		if err != nil {
			return err
		}
		if err := tx.PutSecret(secretKeyring, ring.Marshal()); err != nil {
			return err
		}
		return c.api.Register(ctx, apiclient.Registration{Username: c.prof.Username, Identity: c.id, Cert: c.cert,
			Keyring: ring, OneTime: otp, KEMOne: kem})
	})
	if err != nil {
		t.Fatalf("registering %s again: %v", c.Username(), err)
	}
}

// newKeyFor deletes old's account and registers its name again from a new
// profile (a new identity key).
func newKeyFor(t *testing.T, old *Client, srv *server.Server, home string) *Client {
	t.Helper()
	deleteAccount(t, old)
	return create(t, Options{Home: home, Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, old.Username())
}

// deleteAccount deletes c's account. The directory refuses a signed
// request it has seen, and a deletion names only the account and the
// second it was signed in: a second deletion of the same name within the
// same second is signed again in the next one.
func deleteAccount(t *testing.T, c *Client) {
	t.Helper()
	for {
		err := c.DeleteAccount(context.Background())
		if !apiclient.IsCode(err, "replayed_request") {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustContact(t *testing.T, c *Client, user string) *Contact {
	t.Helper()
	ct, err := c.Contact(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// Security regression: the number to compare after a key change is the
// new key's (what the contact's own client shows), and a server that
// serves the pinned key again does not clear the warning by itself.
func TestSecurityRegressionKeyChangeWarningIsStickyAndShowsNewNumber(t *testing.T) {
	ctx := context.Background()
	srv := startServerReuse(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "alice"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "bob"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "bob")
	mustSend(t, alice, "bob", "hello")
	old, err := alice.SafetyNumber(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}

	bob2 := newKeyFor(t, bob, srv, filepath.Join(dir, "bob2"))
	if ct := mustContact(t, alice, "bob"); !ct.Changed {
		t.Fatal("key change not flagged")
	}
	pending, err := alice.PendingSafetyNumber(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	bobView, err := bob2.SafetyNumber(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if pending.Digits() != bobView.Digits() {
		t.Fatalf("pending number %s, bob's view %s", pending, bobView)
	}
	if pinned, _ := alice.SafetyNumber(ctx, "bob"); pinned.Digits() != old.Digits() || pinned.Digits() == bobView.Digits() {
		t.Fatalf("pinned number %s, old %s", pinned, old)
	}

	// The server flips back to the pinned key: still flagged, with a note.
	deleteAccount(t, bob2)
	reregister(t, bob)
	ct := mustContact(t, alice, "bob")
	if !ct.Changed || !ct.ServedPinnedAgain {
		t.Fatalf("after the flip back: %+v", ct)
	}
	if _, err := alice.Send(ctx, "bob", "x"); !errors.Is(err, ErrIdentityChanged) {
		t.Fatalf("send during an undecided change: %v", err)
	}

	// A third key; the user keeps the pinned one: the warning stays while
	// the server serves another key ...
	bob3 := newKeyFor(t, bob, srv, filepath.Join(dir, "bob3"))
	mustContact(t, alice, "bob")
	cleared, err := alice.RejectIdentity(ctx, "bob")
	if err != nil || cleared {
		t.Fatalf("reject while the server serves another key: cleared %v, %v", cleared, err)
	}
	if ct := mustContact(t, alice, "bob"); !ct.Changed || !ct.KeptPinned {
		t.Fatalf("after reject: %+v", ct)
	}
	// ... and clears once it serves the pinned key again.
	deleteAccount(t, bob3)
	reregister(t, bob)
	if ct := mustContact(t, alice, "bob"); ct.Changed || ct.KeptPinned || ct.ServedPinnedAgain {
		t.Fatalf("pinned key served again after reject: %+v", ct)
	}
	mustSend(t, alice, "bob", "still you")
	if got := syncTexts(t, bob); len(got) == 0 || got[len(got)-1] != "alice:alice:still you" {
		t.Fatalf("bob got %q", got)
	}
}
