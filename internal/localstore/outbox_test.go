package localstore

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestOutboxKeepsOrderAcrossReopenAndPassphraseChange(t *testing.T) {
	s, dir := newStore(t)
	var seqs []int64
	update(t, s, func(tx *Tx) error {
		for _, r := range []string{"first", "second", "third"} {
			seq, err := tx.AddOutbox([]byte(r))
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	})
	update(t, s, func(tx *Tx) error {
		if err := tx.PutOutbox(seqs[0], []byte("first, retried")); err != nil {
			return err
		}
		return tx.DeleteOutbox(seqs[1])
	})
	if err := s.ChangePassphrase(context.Background(), testPass, []byte("new")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(context.Background(), dir, []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var got []OutboxRow
	view(t, s2, func(tx *Tx) (err error) { got, err = tx.Outbox(); return err })
	if len(got) != 2 || string(got[0].Record) != "first, retried" || string(got[1].Record) != "third" ||
		got[0].Seq != seqs[0] || got[1].Seq != seqs[2] {
		t.Fatalf("outbox after re-key and reopen: %+v", got)
	}
	if err := s2.Update(context.Background(), func(tx *Tx) error { return tx.PutOutbox(seqs[1], []byte("x")) }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("PutOutbox of a deleted row: %v, want ErrNotFound", err)
	}
}

// Security: a queued record moved to another place in the queue (an
// attacker with write access reordering what will be sent) fails to open.
func TestOutboxRowMovedIsRefused(t *testing.T) {
	s, dir := newStore(t)
	update(t, s, func(tx *Tx) error {
		for _, r := range []string{"a", "b"} {
			if _, err := tx.AddOutbox([]byte(r)); err != nil {
				return err
			}
		}
		return nil
	})
	s.Close()
	db := rawDB(t, dir)
	if _, err := db.Exec(`UPDATE outbox SET seq = seq + 10`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s2 := reopen(t, dir)
	err := s2.View(context.Background(), func(tx *Tx) error { _, err := tx.Outbox(); return err })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("moved outbox rows: %v, want ErrCorrupt", err)
	}
}

// A profile made before the outbox existed gains the table when opened.
func TestOutboxAddedToOlderProfile(t *testing.T) {
	s, dir := newStore(t)
	s.Close()
	db := rawDB(t, dir)
	if _, err := db.Exec(`DROP TABLE outbox`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s2 := reopen(t, dir)
	update(t, s2, func(tx *Tx) error { _, err := tx.AddOutbox([]byte("queued")); return err })
	view(t, s2, func(tx *Tx) error {
		rows, err := tx.Outbox()
		if err == nil && (len(rows) != 1 || !bytes.Equal(rows[0].Record, []byte("queued"))) {
			t.Errorf("outbox: %+v", rows)
		}
		return err
	})
}
