package sqlstore

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// from is an envelope of size bytes sent by sender.
func from(sender, mailbox string, size int) store.NewEnvelope {
	e := env(mailbox, size)
	e.Sender = sender
	return e
}

// wantResults fails unless res has the wanted errors, in order.
func wantResults(t *testing.T, what string, res []store.AppendResult, want ...error) {
	t.Helper()
	if len(res) != len(want) {
		t.Fatalf("%s: %d results, want %d", what, len(res), len(want))
	}
	for i, w := range want {
		if w == nil && res[i].Err != nil || w != nil && !errors.Is(res[i].Err, w) {
			t.Fatalf("%s: %s", what, describe(res))
		}
	}
}

// wantUsage fails unless a counter holds count envelopes of size bytes.
func wantUsage(t *testing.T, what string, count, size int64, err error, wantCount, wantSize int64) {
	t.Helper()
	if err != nil || count != wantCount || size != wantSize {
		t.Fatalf("%s: %d envelopes, %d bytes (%v); want %d, %d", what, count, size, err, wantCount, wantSize)
	}
}

// A sender holds at most its share of a mailbox, by count and by bytes;
// other senders, and envelopes with no sender, still get in; what an ack
// deletes is released, and an emptied share leaves no row behind.
func testSenderShare(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, a := f.register("alice")
	_, b := f.register("bob")
	lim := store.MailboxLimits{MaxCount: 8, MaxBytes: 1000, SenderMaxCount: 2, SenderMaxBytes: 250}

	res, err := f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{
		from("mallory", a.Mailbox, 10), from("mallory", a.Mailbox, 10), from("mallory", a.Mailbox, 10),
		from("bob", a.Mailbox, 10), from("mallory", b.Mailbox, 10), env(a.Mailbox, 10),
	}, lim)
	f.must(err)
	wantResults(t, "by count", res, nil, nil, store.ErrShareFull, nil, nil, nil)
	count, size, err := f.db.SenderUsage(f.ctx, a.Mailbox, "mallory")
	wantUsage(t, "mallory in alice's mailbox", count, size, err, 2, 20)
	count, size, err = f.db.AccountUsage(f.ctx, "mallory")
	wantUsage(t, "mallory's account", count, size, err, 3, 30)
	count, size, err = f.db.MailboxUsage(f.ctx, a.Mailbox)
	wantUsage(t, "alice's mailbox", count, size, err, 4, 40)

	// By bytes: bob has 10 bytes in alice's mailbox; 240 more fit, 1 more
	// does not.
	res, err = f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{from("bob", a.Mailbox, 241), from("bob", a.Mailbox, 240), from("carol", a.Mailbox, 241)}, lim)
	f.must(err)
	wantResults(t, "by bytes", res, store.ErrShareFull, nil, nil)

	// The mailbox limit comes first.
	lim.MaxCount = 6
	res, err = f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{from("dave", a.Mailbox, 1), from("mallory", a.Mailbox, 1)}, lim)
	f.must(err)
	wantResults(t, "mailbox full", res, store.ErrMailboxFull, store.ErrMailboxFull)
	lim.MaxCount = 8

	// Acknowledging releases the share.
	got, err := f.db.PendingEnvelopes(f.ctx, a.Mailbox, 0, 100)
	f.must(err)
	_, err = f.db.AckEnvelopes(f.ctx, a.Mailbox, []int64{got[0].Seq})
	f.must(err)
	count, size, err = f.db.SenderUsage(f.ctx, a.Mailbox, "mallory")
	wantUsage(t, "mallory after one ack", count, size, err, 1, 10)
	res, err = f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{from("mallory", a.Mailbox, 10), from("mallory", a.Mailbox, 10)}, lim)
	f.must(err)
	wantResults(t, "after the ack", res, nil, store.ErrShareFull)

	// Acknowledging everything leaves no counters behind.
	got, err = f.db.PendingEnvelopes(f.ctx, a.Mailbox, 0, 100)
	f.must(err)
	var seqs []int64
	for _, e := range got {
		seqs = append(seqs, e.Seq)
	}
	_, err = f.db.AckEnvelopes(f.ctx, a.Mailbox, seqs)
	f.must(err)
	var rows int
	f.must(f.db.queryRow(f.ctx, "SELECT COUNT(*) FROM mailbox_senders WHERE mailbox = ?", a.Mailbox).Scan(&rows))
	if rows != 0 {
		t.Fatalf("%d share rows left in an empty mailbox", rows)
	}
	count, size, err = f.db.AccountUsage(f.ctx, "mallory")
	wantUsage(t, "mallory after alice acked everything", count, size, err, 1, 10) // the one in bob's mailbox
	count, size, err = f.db.AccountUsage(f.ctx, "bob")
	wantUsage(t, "bob after alice acked everything", count, size, err, 0, 0)
}

// An account holds at most its budget across all mailboxes, by count and
// by bytes; expiry and the deletion of a recipient device release it.
func testAccountBudget(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	var boxes []string
	for _, n := range []string{"alice", "bob", "carol", "dave"} {
		_, d := f.register(n)
		boxes = append(boxes, d.Mailbox)
	}
	lim := store.MailboxLimits{AccountMaxCount: 3, AccountMaxBytes: 100}
	now := f.now.Now()
	batch := []store.NewEnvelope{from("mallory", boxes[0], 10), from("mallory", boxes[1], 10), from("mallory", boxes[2], 10),
		from("mallory", boxes[3], 10), from("bob", boxes[3], 10)}
	batch[0].ExpiresAt = now.Add(time.Hour)
	res, err := f.db.AppendEnvelopes(f.ctx, batch, lim)
	f.must(err)
	wantResults(t, "by count", res, nil, nil, nil, store.ErrAccountFull, nil)
	count, size, err := f.db.AccountUsage(f.ctx, "mallory")
	wantUsage(t, "mallory", count, size, err, 3, 30)

	// Expiry releases.
	n, err := f.db.ExpireEnvelopes(f.ctx, now.Add(2*time.Hour))
	f.must(err)
	if n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	count, size, err = f.db.AccountUsage(f.ctx, "mallory")
	wantUsage(t, "mallory after expiry", count, size, err, 2, 20)
	count, size, err = f.db.SenderUsage(f.ctx, boxes[0], "mallory")
	wantUsage(t, "mallory's share after expiry", count, size, err, 0, 0)

	// By bytes: 80 more would pass 100.
	res, err = f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{from("mallory", boxes[3], 81), from("mallory", boxes[3], 80)}, lim)
	f.must(err)
	wantResults(t, "by bytes", res, store.ErrAccountFull, nil)

	// A recipient device deleted with its mailbox releases what it held,
	// and so does a recipient account deleted with its devices.
	f.must(f.db.DeleteDevice(f.ctx, "dave", 1))
	count, size, err = f.db.AccountUsage(f.ctx, "mallory")
	wantUsage(t, "mallory after dave's device went", count, size, err, 2, 20)
	count, size, err = f.db.AccountUsage(f.ctx, "bob")
	wantUsage(t, "bob after dave's device went", count, size, err, 0, 0)
	f.must(f.db.DeleteAccount(f.ctx, "carol"))
	count, size, err = f.db.AccountUsage(f.ctx, "mallory")
	wantUsage(t, "mallory after carol's account went", count, size, err, 1, 10)
}

// testSenderAccountingConcurrent appends, acknowledges and expires from
// many goroutines over two handles (as two server instances) with limits
// that refuse some envelopes, then checks every counter against the
// envelopes actually stored.
func testSenderAccountingConcurrent(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	var boxes []string
	for _, n := range []string{"alice", "bob", "carol"} {
		_, d := f.register(n)
		boxes = append(boxes, d.Mailbox)
	}
	senders := []string{"s1", "s2", "s3", "s4"}
	lim := store.MailboxLimits{MaxCount: 40, SenderMaxCount: 12, AccountMaxCount: 30}
	dbs := []*DB{f.db, reopen(t, f.db)}
	const workers, rounds = 6, 12
	var refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := dbs[w%2]
			for r := range rounds {
				// Senders and mailboxes in a different order per worker:
				// PostgreSQL must not deadlock.
				var batch []store.NewEnvelope
				for i := range 5 {
					e := from(senders[(w+i+r)%len(senders)], boxes[(w+2*i)%len(boxes)], 10+i)
					e.ExpiresAt = time.Unix(1<<39, 0)
					batch = append(batch, e)
				}
				res, err := db.AppendEnvelopes(f.ctx, batch, lim)
				if err != nil {
					t.Error(err)
					return
				}
				for _, x := range res {
					if x.Err != nil {
						refused.Add(1)
					}
				}
				box := boxes[(w+r)%len(boxes)]
				got, err := db.PendingEnvelopes(f.ctx, box, 0, 1)
				if err != nil {
					t.Error(err)
					return
				}
				var seqs []int64
				for _, e := range got {
					seqs = append(seqs, e.Seq)
				}
				if _, err := db.AckEnvelopes(f.ctx, box, seqs); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	checkSenderCounters(t, f, boxes, senders, lim)
	n, err := f.db.ExpireEnvelopes(f.ctx, time.Unix(1<<40, 0))
	f.must(err)
	t.Logf("%d envelopes refused, %d left and expired", refused.Load(), n)
	checkSenderCounters(t, f, boxes, senders, lim)
}

// checkSenderCounters compares the share and account counters with the
// stored envelopes, and both with the limits.
func checkSenderCounters(t *testing.T, f *fixture, boxes, senders []string, lim store.MailboxLimits) {
	t.Helper()
	total := map[string]int64{}
	for _, box := range boxes {
		for _, s := range senders {
			var want, wantBytes int64
			f.must(f.db.queryRow(f.ctx, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM envelopes WHERE mailbox = ? AND sender = ?", box, s).Scan(&want, &wantBytes))
			count, size, err := f.db.SenderUsage(f.ctx, box, s)
			wantUsage(t, s+" in "+box[:6], count, size, err, want, wantBytes)
			if count > lim.SenderMaxCount {
				t.Fatalf("%s holds %d in %s, over its share of %d", s, count, box[:6], lim.SenderMaxCount)
			}
			total[s] += want
		}
	}
	for _, s := range senders {
		count, _, err := f.db.AccountUsage(f.ctx, s)
		f.must(err)
		if count != total[s] || count > lim.AccountMaxCount {
			t.Fatalf("account %s counts %d, %d stored (budget %d)", s, count, total[s], lim.AccountMaxCount)
		}
	}
}
