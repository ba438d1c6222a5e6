package localstore

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/storage"
)

// countingBackend counts the reads of the message counter.
type countingBackend struct {
	storage.Backend
	counterReads atomic.Int64
}

func (b *countingBackend) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return b.Backend.Update(ctx, func(tx storage.Tx) error { return fn(countingTx{tx, b}) })
}

type countingTx struct {
	storage.Tx
	b *countingBackend
}

func (t countingTx) Get(table string, key []byte) ([]byte, bool, error) {
	if table == tCounters {
		t.b.counterReads.Add(1)
	}
	return t.Tx.Get(table, key)
}

// A transaction storing a page of messages reads the message counter once,
// not once per message, and the messages still take the next numbers in
// order, in that transaction and the ones after.
func TestPageOfMessagesReadsCounterOnce(t *testing.T) {
	ctx := context.Background()
	b := &countingBackend{Backend: storage.Memory()}
	s, err := Create(ctx, b, testKey(testPass, testParams))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want []string
	for page := range 3 {
		before := b.counterReads.Load()
		update(t, s, func(tx *Tx) error {
			for i := range 20 {
				text := fmt.Sprint("page ", page, " message ", i)
				want = append(want, text)
				if _, err := tx.AddIncoming("peer", []byte(text), time.Now(), []byte(text), true); err != nil {
					return err
				}
			}
			return nil
		})
		if n := b.counterReads.Load() - before; n != 1 {
			t.Fatalf("page %d: the counter read %d times, want once", page, n)
		}
	}
	var got []string
	view(t, s, func(tx *Tx) error {
		recs, err := tx.History("peer", 0)
		for _, r := range recs {
			got = append(got, string(r))
		}
		return err
	})
	if !slices.Equal(got, want) {
		t.Fatalf("history %q, want %q", got, want)
	}
}
