package localstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hush-chat/hush/internal/sqlitestore"
	"github.com/hush-chat/hush/internal/storage"
)

func TestChangePassphrase(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	writePlaintexts(t, s)
	addMessages(t, s, "bob", "b1", "b2", "b3")
	newPass := []byte("a much longer new passphrase")
	if err := s.ChangePassphrase(ctx, []byte("not the old one"), newPass); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("ChangePassphrase with a wrong old passphrase: %v", err)
	}
	raised := Params{Time: 2, Memory: 128, Threads: 1}
	s.kdf = raised
	if err := s.ChangePassphrase(ctx, testPass, newPass); err != nil {
		t.Fatal(err)
	}
	// The Store that changed it keeps working.
	addMessages(t, s, "bob", "b4")
	s.Close()

	if _, err := openDir(ctx, dir, testPass); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("old passphrase after the change: %v", err)
	}
	s, err := openDir(ctx, dir, newPass)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m := rawMeta(t, s); m.Time != raised.Time || m.Memory != raised.Memory || m.Threads != raised.Threads {
		t.Fatalf("params after the change: %+v; want %+v", m, raised)
	}
	p := plaintexts
	update(t, s, func(tx *Tx) error {
		if v, err := tx.GetSecret(string(p["secret name"])); err != nil || string(v) != string(p["secret value"]) {
			t.Errorf("secret: %q, %v", v, err)
		}
		if v, err := tx.GetSession(string(p["session username"]), 3); err != nil || string(v) != string(p["session state"]) {
			t.Errorf("session: %q, %v", v, err)
		}
		if l, err := tx.ListContacts(); err != nil || len(l) != 1 {
			t.Errorf("contacts: %q, %v", l, err)
		}
		if _, err := tx.GetContact(string(p["contact username"])); err != nil {
			t.Errorf("contact: %v", err)
		}
		if already, err := tx.MarkSeen(string(p["seen source"]), 77); err != nil || !already {
			t.Errorf("seen mark lost: %v, %v", already, err)
		}
		if added, err := tx.AddMessage("bob", []byte("b2"), testTime(0), nil); err != nil || added {
			t.Errorf("message dedupe lost: %v, %v", added, err)
		}
		return nil
	})
	if got := history(t, s, "bob", 0); got != "bob:b1 bob:b2 bob:b3 bob:b4" {
		t.Errorf("history after the change: %q", got)
	}
	if got := history(t, s, string(p["conversation"]), 0); got != string(p["message text"]) {
		t.Errorf("history after the change: %q", got)
	}
}

// Security regression: after ChangePassphrase, nothing sealed under the
// old key is left in the files — not in free pages, not in the WAL — so
// someone who learns the old passphrase and later copies the profile
// gets nothing from it.
func TestChangePassphraseLeavesNoOldCiphertext(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	writePlaintexts(t, s)
	addMessages(t, s, "bob", "b1", "b2")
	var old [][]byte
	update(t, s, func(tx *Tx) error { _, err := tx.AddOutbox([]byte("queued")); return err })
	m := rawMeta(t, s)
	old = append(old, m.Salt, m.Verifier)
	tamper(t, s, func(tx storage.Tx) error {
		for _, table := range []string{tSecrets, tContacts, tSessions, tMessages, tSeen, tOutbox} {
			if err := tx.Scan(table, nil, nil, false, func(k, v []byte) error {
				old = append(old, bytes.Clone(v))
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if len(old) < 10 {
		t.Fatalf("only %d old values captured", len(old))
	}
	if err := s.ChangePassphrase(ctx, testPass, []byte("new")); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		for i, v := range old {
			// A 16-byte window: nonces and salts are random, so a hit
			// means the old bytes survived.
			if hits := filesContaining(t, dir, v[:16]); len(hits) > 0 {
				t.Errorf("%s: old value %d still in %v", when, i, hits)
			}
		}
	}
	check("open")
	s.Close()
	check("closed")
}

// A Store whose passphrase another Store changed refuses to go on with
// the old keys (its writes would be unreadable).
func TestChangePassphraseMakesOtherStoresStale(t *testing.T) {
	ctx := context.Background()
	a, dir := newStore(t)
	b := reopen(t, dir)
	update(t, b, func(tx *Tx) error { return tx.PutSecret("x", []byte("1")) })
	if err := a.ChangePassphrase(ctx, testPass, []byte("new")); err != nil {
		t.Fatal(err)
	}
	nop := func(*Tx) error { return nil }
	if err := b.Update(ctx, nop); !errors.Is(err, ErrStale) {
		t.Fatalf("Update on the stale store: %v", err)
	}
	if err := b.View(ctx, nop); !errors.Is(err, ErrStale) {
		t.Fatalf("View on the stale store: %v", err)
	}
	if err := b.ChangePassphrase(ctx, testPass, []byte("other")); !errors.Is(err, ErrStale) {
		t.Fatalf("ChangePassphrase on the stale store: %v", err)
	}
	view(t, a, func(tx *Tx) error {
		if v, err := tx.GetSecret("x"); err != nil || string(v) != "1" {
			t.Fatalf("secret: %q, %v", v, err)
		}
		return nil
	})
}

// A refused ChangePassphrase changes nothing.
func TestChangePassphraseWrongOldChangesNothing(t *testing.T) {
	s, dir := newStore(t)
	update(t, s, writeOneOfEach)
	s.Close()
	before, _ := os.ReadFile(filepath.Join(dir, sqlitestore.FileName))
	s = reopen(t, dir)
	if err := s.ChangePassphrase(context.Background(), []byte("wrong"), []byte("new")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("got %v", err)
	}
	s.Close()
	after, _ := os.ReadFile(filepath.Join(dir, sqlitestore.FileName))
	if string(before) != string(after) {
		t.Fatal("a refused ChangePassphrase changed the file")
	}
	reopen(t, dir)
}
