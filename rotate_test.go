package hush

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A signed rotation: contacts move to the new key without a warning, keep
// it verified, and talk on; history stays. An unsigned key change still
// warns and blocks sending.
func TestRotateIdentity(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	if _, err := alice.Send(ctx, "bob", "before"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.MarkVerified(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	oldFpr := alice.Fingerprint()
	if err := alice.RotateIdentity(ctx); err != nil {
		t.Fatal(err)
	}
	if alice.Fingerprint() == oldFpr {
		t.Fatal("the identity key did not change")
	}
	if _, err := alice.Send(ctx, "bob", "after the rotation"); err != nil {
		t.Fatal(err)
	}
	var notes []DeviceChange
	var held int
	got, err := bob.SyncEvents(ctx, func(e Event) {
		switch e.Kind {
		case EventDevicesChanged:
			notes = append(notes, *e.Devices)
		case EventIdentityChanged:
			held++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(texts(got), "after the rotation") || held != 0 {
		t.Fatalf("bob got %q, %d held", texts(got), held)
	}
	if len(notes) != 1 || !notes[0].Rotated || !strings.Contains(notes[0].String(), "rotated") {
		t.Fatalf("bob was told %+v", notes)
	}
	c, err := bob.Contact(ctx, "alice")
	if err != nil || c.Changed || !c.Verified || fingerprintOfKey(c.IdentityKey) != alice.Fingerprint() {
		t.Fatalf("bob's contact %+v, %v", c, err)
	}
	if _, err := bob.Send(ctx, "alice", "reply"); err != nil {
		t.Fatal(err)
	}
	got, err = alice.Sync(ctx)
	if err != nil || !slices.Contains(texts(got), "reply") {
		t.Fatalf("alice got %q, %v", texts(got), err)
	}
	hist, err := alice.History(ctx, "bob", 0)
	if err != nil || len(hist) != 3 || hist[0].Text != "before" {
		t.Fatalf("alice's history %d, %v", len(hist), err)
	}
}

func fingerprintOfKey(b []byte) string { return keyFingerprint(b) }

// The statement chain: only a history whose rotations lead from the pinned
// key to the served one, each signed by the key before, counts.
func TestRotatedTo(t *testing.T) {
	// Covered with real keys through TestRotateIdentity; here the refusals.
	srv := startServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	u, err := alice.lookup(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if rotatedTo(alice.IdentityKey(), u) {
		t.Fatal("no rotation, yet a handover")
	}
	other := create(t, Options{Home: filepath.Join(dir, "o"), Passphrase: []byte("po"), ServerURL: srv.HTTPURL()}, "mallory")
	if rotatedTo(other.IdentityKey(), u) {
		t.Fatal("a handover from a key that never signed one")
	}
}
