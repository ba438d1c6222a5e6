package localstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hush-chat/hush/internal/sqlitestore"
)

// v1Pass unlocks testdata/v1/profile.db of internal/sqlitestore, a
// profile written by the format 1 code (one SQL table per kind of row)
// with cheap Argon2id parameters. It holds: secret seed = s33d; contact
// alice; sessions alice/1 and alice/2; messages alice m1 (updated to
// "alice m1 delivered"), bob b1, alice m2 (incoming, unshown); seen relay
// 5 and 7, mqtt 3; outbox q1 (deleted) and q2 (seq 2).
var v1Pass = []byte("v1 fixture passphrase")

func v1Copy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sqlitestore", "testdata", "v1", sqlitestore.FileName))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "p")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, sqlitestore.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func historyOf(t *testing.T, tx *Tx, conv string) []string {
	t.Helper()
	h, err := tx.History(conv, 0)
	if err != nil {
		t.Fatalf("history %s: %v", conv, err)
	}
	var out []string
	for _, r := range h {
		out = append(out, string(r))
	}
	return out
}

// A profile written by the format 1 code opens, converted: every row
// reads back, history keeps its order, the seen-set and the outbox go on
// where they were, and the converted profile re-keys and reopens.
func TestFormat1ProfileOpens(t *testing.T) {
	ctx := context.Background()
	dir := v1Copy(t)
	if _, err := openDir(ctx, dir, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase on a format 1 profile: %v", err)
	}
	s, err := openDir(ctx, dir, v1Pass)
	if err != nil {
		t.Fatalf("open format 1 profile: %v", err)
	}
	s.kdf = testParams
	if m := rawMeta(t, s); m.Version != formatVersion || m.Time != 1 || m.Memory != 64 {
		t.Fatalf("converted meta %+v", m)
	}
	view(t, s, func(tx *Tx) error {
		if v, err := tx.GetSecret("seed"); err != nil || string(v) != "s33d" {
			t.Errorf("secret: %q %v", v, err)
		}
		if v, err := tx.GetContact("alice"); err != nil || string(v) != "contact alice" {
			t.Errorf("contact: %q %v", v, err)
		}
		if l, err := tx.ListContacts(); err != nil || len(l) != 1 {
			t.Errorf("contacts: %q %v", l, err)
		}
		for d := uint32(1); d <= 2; d++ {
			if v, err := tx.GetSession("alice", d); err != nil || string(v) != "session alice "+string(rune('0'+d)) {
				t.Errorf("session %d: %q %v", d, v, err)
			}
		}
		if h := historyOf(t, tx, "alice"); !slices.Equal(h, []string{"alice m1 delivered", "alice m2"}) {
			t.Errorf("alice history %q", h)
		}
		if h := historyOf(t, tx, "bob"); !slices.Equal(h, []string{"bob b1"}) {
			t.Errorf("bob history %q", h)
		}
		if u, err := tx.Unshown(0); err != nil || len(u) != 1 || string(u[0]) != "alice m2" {
			t.Errorf("unshown %q %v", u, err)
		}
		if ob, err := tx.Outbox(); err != nil || len(ob) != 1 || ob[0].Seq != 2 || string(ob[0].Record) != "q2" {
			t.Errorf("outbox %+v %v", ob, err)
		}
		return nil
	})
	update(t, s, func(tx *Tx) error {
		for _, m := range []struct {
			src     string
			seq     int64
			already bool
		}{{"relay", 5, true}, {"relay", 7, true}, {"relay", 6, false}, {"mqtt", 3, true}, {"mqtt", 5, false}} {
			if got, err := tx.MarkSeen(m.src, m.seq); err != nil || got != m.already {
				t.Errorf("MarkSeen(%s, %d) = %v, %v; want %v", m.src, m.seq, got, err, m.already)
			}
		}
		if added, err := tx.AddMessage("alice", []byte("m1"), testTime(0), nil); err != nil || added {
			t.Errorf("dedupe of a format 1 message: %v %v", added, err)
		}
		if _, err := tx.AddMessage("alice", []byte("m3"), testTime(0), []byte("alice m3")); err != nil {
			return err
		}
		if seq, err := tx.AddOutbox([]byte("q3")); err != nil || seq != 3 {
			t.Errorf("AddOutbox after conversion: %d %v", seq, err)
		}
		return tx.SetUnshown("alice", []byte("m2"), false)
	})
	if err := s.ChangePassphrase(ctx, v1Pass, []byte("new")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The old tables are gone from the file; only kv is left.
	var names []string
	rows, err := rawDB(t, dir).Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	if !slices.Equal(names, []string{"kv"}) {
		t.Errorf("tables after conversion: %q", names)
	}
	s, err = openDir(ctx, dir, []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	view(t, s, func(tx *Tx) error {
		if h := historyOf(t, tx, "alice"); !slices.Equal(h, []string{"alice m1 delivered", "alice m2", "alice m3"}) {
			t.Errorf("alice history after re-key: %q", h)
		}
		if u, err := tx.Unshown(0); err != nil || len(u) != 0 {
			t.Errorf("unshown after re-key: %q %v", u, err)
		}
		return nil
	})
}
