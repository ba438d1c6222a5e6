package sqlstore

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/hush-chat/hush/internal/server/store"
)

// BenchmarkAppendEnvelopes appends batches of 100 envelopes of 300 bytes
// from 7 sender accounts to 10 mailboxes, as the relay's group commit
// does, with the relay's default limits, and reports envelopes per
// second. Every batch is one fsynced transaction.
func BenchmarkAppendEnvelopes(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchAppend(b, openSQLite) })
	if os.Getenv("HUSH_TEST_POSTGRES") != "" {
		b.Run("postgres", func(b *testing.B) { benchAppend(b, openPostgres) })
	}
}

func benchAppend(b *testing.B, open func(testing.TB) *DB) {
	db := open(b)
	ctx := context.Background()
	var boxes []string
	for i := range 10 {
		d := device(fmt.Sprintf("user%d", i), 1)
		a := store.Account{Username: d.Username, IdentityKey: randBytes(32)}
		if err := db.CreateAccount(ctx, a, d, preKey(1), preKey(2), false); err != nil {
			b.Fatal(err)
		}
		boxes = append(boxes, d.Mailbox)
	}
	batch := make([]store.NewEnvelope, 100)
	for i := range batch {
		batch[i] = store.NewEnvelope{Mailbox: boxes[i%len(boxes)], Sender: fmt.Sprintf("sender%d", i%7), Data: randBytes(300)}
	}
	// The relay's defaults, with room for every envelope the loop stores.
	lim := store.MailboxLimits{MaxCount: 1 << 40, MaxBytes: 1 << 50, SenderMaxCount: 1 << 38, SenderMaxBytes: 1 << 48,
		AccountMaxCount: 1 << 40, AccountMaxBytes: 1 << 50}
	b.SetBytes(int64(len(batch) * 300))
	b.ResetTimer()
	for b.Loop() {
		res, err := db.AppendEnvelopes(ctx, batch, lim)
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res[0].Err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "envelopes/s")
}

// BenchmarkAppendAck stores one envelope and acknowledges it, each in its
// own transaction, as a relay does for a device that is online: the
// ack's share of the sender accounting is what it measures.
func BenchmarkAppendAck(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchAppendAck(b, openSQLite) })
	if os.Getenv("HUSH_TEST_POSTGRES") != "" {
		b.Run("postgres", func(b *testing.B) { benchAppendAck(b, openPostgres) })
	}
}

func benchAppendAck(b *testing.B, open func(testing.TB) *DB) {
	db := open(b)
	ctx := context.Background()
	d := device("alice", 1)
	if err := db.CreateAccount(ctx, store.Account{Username: d.Username, IdentityKey: randBytes(32)}, d, preKey(1), preKey(2), false); err != nil {
		b.Fatal(err)
	}
	e := []store.NewEnvelope{{Mailbox: d.Mailbox, Sender: "bob", Data: randBytes(1393)}}
	lim := store.MailboxLimits{MaxCount: 10_000, MaxBytes: 256 << 20, SenderMaxCount: 2_500, SenderMaxBytes: 64 << 20,
		AccountMaxCount: 100_000, AccountMaxBytes: 1 << 30}
	for b.Loop() {
		res, err := db.AppendEnvelopes(ctx, e, lim)
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res[0].Err)
		}
		if n, err := db.AckEnvelopes(ctx, d.Mailbox, []int64{res[0].Seq}); err != nil || n != 1 {
			b.Fatal(n, err)
		}
	}
}
