package hush

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// An empty passphrase would leave the profile's keys protected by nothing
// but Argon2id of the empty string: Create refuses it before anything is
// written or sent, and Open names it instead of trying it.
func TestEmptyPassphraseRefused(t *testing.T) {
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "alice")
	for _, pw := range [][]byte{nil, {}} {
		_, err := Create(ctx, Options{Home: home, Passphrase: pw, ServerURL: "http://127.0.0.1:1"}, "alice", "")
		if !errors.Is(err, ErrEmptyPassphrase) {
			t.Fatalf("Create with passphrase %q: %v, want ErrEmptyPassphrase", pw, err)
		}
		if sqliteExists(home) {
			t.Fatal("a refused Create left a profile")
		}
		if _, err := Open(ctx, Options{Home: home, Passphrase: pw}); !errors.Is(err, ErrEmptyPassphrase) {
			t.Fatalf("Open with passphrase %q: %v, want ErrEmptyPassphrase", pw, err)
		}
	}
}
