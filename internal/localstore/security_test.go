package localstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hush-chat/hush/internal/storage"
)

// Known plaintexts written to every table; none may reach the disk.
var plaintexts = map[string][]byte{
	"passphrase":       testPass,
	"secret name":      []byte("identity-seed-name-7f3a"),
	"secret value":     []byte("SECRET-SEED-VALUE-0x5eed5eed"),
	"setting value":    []byte("https://hush.example.org:8443"),
	"contact username": []byte("alice-wonderland-91"),
	"contact record":   []byte("CONTACT-RECORD-pinned-key-a1b2"),
	"session username": []byte("bob-the-builder-55"),
	"session state":    []byte("RATCHET-STATE-chain-key-c3d4"),
	"conversation":     []byte("carol-conversation-42"),
	"message id":       []byte("\x8a\x13\xf0\x42\x99\x01\xde\xad\xbe\xef\x10\x20\x30\x40\x50\x60"),
	"message text":     []byte("the eagle lands at midnight"),
	"seen source":      []byte("mailbox-9f8e7d6c5b4a"),
}

func writePlaintexts(t *testing.T, s *Store) {
	t.Helper()
	p := plaintexts
	update(t, s, func(tx *Tx) error {
		if err := tx.PutSecret(string(p["secret name"]), p["secret value"]); err != nil {
			return err
		}
		if err := tx.PutSecret("config", p["setting value"]); err != nil {
			return err
		}
		rec := append(append([]byte{}, p["contact username"]...), p["contact record"]...)
		if err := tx.PutContact(string(p["contact username"]), rec); err != nil {
			return err
		}
		if err := tx.PutSession(string(p["session username"]), 3, p["session state"]); err != nil {
			return err
		}
		if _, err := tx.AddMessage(string(p["conversation"]), p["message id"], testTime(0), p["message text"]); err != nil {
			return err
		}
		if err := tx.UpdateMessage(string(p["conversation"]), p["message id"], p["message text"]); err != nil {
			return err
		}
		_, err := tx.MarkSeen(string(p["seen source"]), 77)
		return err
	})
}

// assertNoPlaintext scans every file of the profile directory for every
// known plaintext and for the index key.
func assertNoPlaintext(t *testing.T, dir string, index []byte) {
	t.Helper()
	needles := map[string][]byte{"index key": index}
	for k, v := range plaintexts {
		needles[k] = v
	}
	for what, needle := range needles {
		if hits := filesContaining(t, dir, needle); len(hits) > 0 {
			t.Errorf("%s appears in plaintext in %v", what, hits)
		}
	}
}

// Security regression: nothing secret is written unencrypted — not while
// the profile is open (the WAL holds the commits) nor after Close (the
// WAL was checkpointed into the database), nor in the index key.
func TestNoPlaintextOnDisk(t *testing.T) {
	s, dir := newStore(t)
	index := append([]byte{}, s.k.index...)
	writePlaintexts(t, s)
	view(t, s, func(tx *Tx) error { // the values are really there
		h, err := tx.History(string(plaintexts["conversation"]), 0)
		if err != nil || len(h) != 1 || string(h[0]) != string(plaintexts["message text"]) {
			t.Fatalf("history: %q, %v", h, err)
		}
		return nil
	})
	assertNoPlaintext(t, dir, index)
	s.Close()
	assertNoPlaintext(t, dir, index)
}

// The scan of TestNoPlaintextOnDisk finds a plaintext that is there, in
// the WAL while the profile is open and in the database after: it would
// catch a leak.
func TestPlaintextScanFindsPlaintext(t *testing.T) {
	s, dir := newStore(t)
	canary := []byte("CANARY-plaintext-1234567")
	update(t, s, func(tx *Tx) error {
		return tx.tx.Put(tSecrets, []byte("k"), canary)
	})
	if hits := filesContaining(t, dir, canary); len(hits) == 0 {
		t.Fatal("scan missed a plaintext in the open profile")
	}
	s.Close()
	if hits := filesContaining(t, dir, canary); len(hits) == 0 {
		t.Fatal("scan missed a plaintext in the closed profile")
	}
}

// moveAndExpectCorrupt changes the backend under s with move, reopens
// the profile, and expects read to fail with ErrCorrupt.
func moveAndExpectCorrupt(t *testing.T, s *Store, dir string, move func(tx storage.Tx) error, read func(tx *Tx) error) {
	t.Helper()
	tamper(t, s, move)
	s.Close()
	s = reopen(t, dir)
	err := s.View(context.Background(), read)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read after the move: %v, want ErrCorrupt", err)
	}
}

// copyValue puts the value of (fromTable, from) under (toTable, to),
// deleting the source row when move is set.
func copyValue(fromTable string, from []byte, toTable string, to []byte, move bool) func(tx storage.Tx) error {
	return func(tx storage.Tx) error {
		v, ok, err := tx.Get(fromTable, from)
		if err != nil || !ok {
			return fmt.Errorf("no row to copy: %v", err)
		}
		v = bytes.Clone(v)
		if move {
			if err := tx.Delete(fromTable, from); err != nil {
				return err
			}
		}
		return tx.Put(toTable, to, v)
	}
}

// Security regression: a sealed value is bound to its table and row; one
// copied or moved elsewhere fails to open instead of being read as that
// row's value. Runs on every backend: the binding is the sealing layer's.
func TestMovedValueFailsToDecrypt(t *testing.T) {
	eachBackend(t, testMovedValueFailsToDecrypt)
}

func testMovedValueFailsToDecrypt(t *testing.T, kind string) {
	getContact := func(u string) func(*Tx) error {
		return func(tx *Tx) error { _, err := tx.GetContact(u); return err }
	}
	setup := func(t *testing.T) (*Store, string, *keys) {
		s, dir := newStoreOn(t, kind)
		update(t, s, func(tx *Tx) error {
			for _, u := range []string{"alice", "bob"} {
				if err := tx.PutContact(u, []byte("record "+u)); err != nil {
					return err
				}
				if err := tx.PutSession(u, 1, []byte("state "+u)); err != nil {
					return err
				}
			}
			if err := tx.PutSecret("seed", []byte("seed")); err != nil {
				return err
			}
			for _, c := range []string{"alice", "bob"} {
				for _, id := range []string{"m1", "m2"} {
					if _, err := tx.AddMessage(c, []byte(id), testTime(0), []byte(c+id)); err != nil {
						return err
					}
				}
			}
			_, err := tx.AddOutbox([]byte("a"))
			return err
		})
		k := &keys{index: append([]byte{}, s.k.index...)}
		return s, dir, k
	}
	t.Run("contact to another contact", func(t *testing.T) {
		s, dir, k := setup(t)
		moveAndExpectCorrupt(t, s, dir,
			copyValue(tContacts, k.blind(tContacts, []byte("bob")), tContacts, k.blind(tContacts, []byte("alice")), false),
			getContact("alice"))
	})
	t.Run("secret to a contact", func(t *testing.T) {
		s, dir, k := setup(t)
		moveAndExpectCorrupt(t, s, dir,
			copyValue(tSecrets, k.blind(tSecrets, []byte("seed")), tContacts, k.blind(tContacts, []byte("alice")), false),
			getContact("alice"))
	})
	t.Run("contact row in the list", func(t *testing.T) {
		s, dir, k := setup(t)
		moveAndExpectCorrupt(t, s, dir,
			copyValue(tContacts, k.blind(tContacts, []byte("bob")), tContacts, k.blind(tContacts, []byte("alice")), false),
			func(tx *Tx) error { _, err := tx.ListContacts(); return err })
	})
	t.Run("session to another device", func(t *testing.T) {
		s, dir, k := setup(t)
		moveAndExpectCorrupt(t, s, dir,
			copyValue(tSessions, k.blind(tSessions, sessionName("alice", 1)), tSessions, k.blind(tSessions, sessionName("alice", 2)), true),
			func(tx *Tx) error { _, err := tx.GetSession("alice", 2); return err })
	})
	t.Run("message to another conversation", func(t *testing.T) {
		s, dir, k := setup(t)
		alice, bob := k.convKey([]byte("alice")), k.convKey([]byte("bob"))
		mid := k.msgKey(alice, []byte("m1"))
		moveAndExpectCorrupt(t, s, dir,
			copyValue(tMessages, msgKeyRow(alice, mid, 1), tMessages, msgKeyRow(bob, mid, 1), true),
			func(tx *Tx) error { _, err := tx.History("bob", 0); return err })
	})
	t.Run("message reordered in history", func(t *testing.T) {
		s, dir, k := setup(t)
		alice := k.convKey([]byte("alice"))
		mid := k.msgKey(alice, []byte("m1"))
		moveAndExpectCorrupt(t, s, dir,
			copyValue(tMessages, msgKeyRow(alice, mid, 1), tMessages, msgKeyRow(alice, mid, 101), true),
			func(tx *Tx) error { _, err := tx.History("alice", 0); return err })
	})
	t.Run("outbox row moved in the queue", func(t *testing.T) {
		s, dir, _ := setup(t)
		moveAndExpectCorrupt(t, s, dir, copyValue(tOutbox, be64(1), tOutbox, be64(11), true),
			func(tx *Tx) error { _, err := tx.Outbox(); return err })
	})
	t.Run("ciphertext bit flipped", func(t *testing.T) {
		s, dir, k := setup(t)
		seed := k.blind(tSecrets, []byte("seed"))
		moveAndExpectCorrupt(t, s, dir, func(tx storage.Tx) error {
			v, _, err := tx.Get(tSecrets, seed)
			if err != nil {
				return err
			}
			v = bytes.Clone(v)
			v[30] ^= 1
			return tx.Put(tSecrets, seed, v)
		}, func(tx *Tx) error { _, err := tx.GetSecret("seed"); return err })
	})
}

// Security regression: no backend ever sees a username, a message, a
// name or a key. A backend that records everything it is given (the
// in-memory one, wrapped) holds none of the known plaintexts.
func TestBackendSeesNoPlaintext(t *testing.T) {
	s, _ := newStoreOn(t, "memory")
	index := append([]byte{}, s.k.index...)
	writePlaintexts(t, s)
	update(t, s, func(tx *Tx) error {
		_, err := tx.AddOutbox([]byte("the eagle lands at midnight"))
		return err
	})
	var all []byte
	tamper(t, s, func(tx storage.Tx) error {
		for _, table := range []string{storage.MetaTable, tSecrets, tContacts, tSessions, tMessages, tMessageIDs,
			tUnshown, tCounters, tSeen, tSeenCounts, tSeenSeqs, tOutbox} {
			if err := tx.Scan(table, nil, nil, false, func(k, v []byte) error {
				all = append(append(append(all, table...), k...), v...)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if len(all) < 500 {
		t.Fatalf("only %d bytes in the backend", len(all))
	}
	needles := map[string][]byte{"index key": index}
	for k, v := range plaintexts {
		needles[k] = v
	}
	for what, needle := range needles {
		if bytes.Contains(all, needle) {
			t.Errorf("the backend holds %s in plaintext", what)
		}
	}
}

// Security regression: a deleted or replaced session state is zeroed in
// the file, not left in a free page where someone who later learns the
// passphrase could read it (that would undo the ratchet's forward
// secrecy).
func TestReplacedAndDeletedValuesErased(t *testing.T) {
	s, dir := newStore(t)
	update(t, s, func(tx *Tx) error {
		if err := tx.PutSession("alice", 1, make([]byte, 700)); err != nil {
			return err
		}
		return tx.PutSession("bob", 1, make([]byte, 300))
	})
	s.Close()
	var old [][]byte
	db := rawDB(t, dir)
	rows, err := db.Query(`SELECT v FROM kv WHERE t = 'sessions'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v []byte
		rows.Scan(&v)
		old = append(old, v)
	}
	rows.Close()
	db.Close()
	if len(old) != 2 {
		t.Fatalf("%d sessions", len(old))
	}
	s = reopen(t, dir)
	update(t, s, func(tx *Tx) error {
		if err := tx.DeleteSession("alice", 1); err != nil {
			return err
		}
		return tx.PutSession("bob", 1, make([]byte, 100)) // shorter: the old cell is freed
	})
	s.Close()
	for i, v := range old {
		for _, off := range []int{0, len(v) / 2, len(v) - 16} {
			if hits := filesContaining(t, dir, v[off:off+16]); len(hits) > 0 {
				t.Errorf("old session %d (bytes %d…) still in %v", i, off, hits)
			}
		}
	}
}
