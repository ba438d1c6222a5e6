package hush

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// After ChangePassphrase the profile opens with the new passphrase only,
// and everything in it is still there.
func TestChangePassphrase(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	o := Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("old one"), ServerURL: srv.HTTPURL()}
	alice := create(t, o, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	if _, err := alice.Send(ctx, "bob", "before the change"); err != nil {
		t.Fatal(err)
	}
	if err := alice.ChangePassphrase(ctx, []byte("not it"), []byte("new one")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("change with a wrong current passphrase: %v, want ErrWrongPassphrase", err)
	}
	if err := alice.ChangePassphrase(ctx, []byte("old one"), nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("change to an empty passphrase: %v, want ErrEmptyPassphrase", err)
	}
	if err := alice.ChangePassphrase(ctx, []byte("old one"), []byte("new one")); err != nil {
		t.Fatal(err)
	}
	// The open client keeps working under the new key.
	if _, err := alice.Send(ctx, "bob", "after the change"); err != nil {
		t.Fatal(err)
	}
	alice.Close()

	if _, err := Open(ctx, o); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("open with the old passphrase: %v, want ErrWrongPassphrase", err)
	}
	o.Passphrase = []byte("new one")
	again, err := Open(ctx, o)
	if err != nil {
		t.Fatalf("open with the new passphrase: %v", err)
	}
	defer again.Close()
	hist, err := again.History(ctx, "bob", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Text != "before the change" || hist[1].Text != "after the change" {
		t.Fatalf("history after the change: %+v", hist)
	}
	if _, err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := bob.History(ctx, "alice", 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("bob's history: %d messages, %v", len(got), err)
	}
}
