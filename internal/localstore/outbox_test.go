package localstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestOutboxKeepsOrderAcrossReopenAndPassphraseChange(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, dir := newStoreOn(t, kind)
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
		s2, err := openDir(context.Background(), dir, []byte("new"))
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
	})
}

// Records queued in one transaction, and in the next, take increasing
// numbers after the last one queued, and come back in that order.
func TestAddOutboxNumbersInOrderWithinATransaction(t *testing.T) {
	s, _ := newStore(t)
	var want []string
	for round := range 2 {
		update(t, s, func(tx *Tx) error {
			last := int64(0)
			for i := range 5 {
				rec := fmt.Sprint("round ", round, " record ", i)
				seq, err := tx.AddOutbox([]byte(rec))
				if err != nil {
					return err
				}
				if seq <= last {
					t.Errorf("seq %d after %d", seq, last)
				}
				last = seq
				want = append(want, rec)
			}
			return nil
		})
	}
	var got []string
	view(t, s, func(tx *Tx) error {
		rows, err := tx.Outbox()
		for _, r := range rows {
			got = append(got, string(r.Record))
		}
		return err
	})
	if !slices.Equal(got, want) {
		t.Fatalf("outbox %q, want %q", got, want)
	}
}
