package sqlstore

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

func env(mailbox string, size int) store.NewEnvelope {
	return store.NewEnvelope{Mailbox: mailbox, Data: randBytes(size)}
}

// PendingPage stops reading once the envelopes read reach the byte
// budget (the one that reaches it included), so one relay page never
// loads a whole mailbox of large envelopes.
func testPendingPageByteBudget(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, a := f.register("alice")
	batch := []store.NewEnvelope{env(a.Mailbox, 100), env(a.Mailbox, 100), env(a.Mailbox, 100), env(a.Mailbox, 100), env(a.Mailbox, 100)}
	res, err := f.db.AppendEnvelopes(f.ctx, batch, store.MailboxLimits{MaxCount: 100, MaxBytes: 1 << 20})
	f.must(err)
	for _, c := range []struct{ limit, maxBytes, want int }{
		{10, 250, 3}, {10, 300, 3}, {10, 301, 4}, {2, 250, 2}, {10, 1, 1}, {10, 0, 5},
	} {
		got, err := f.db.PendingPage(f.ctx, a.Mailbox, 0, c.limit, c.maxBytes)
		f.must(err)
		if len(got) != c.want {
			t.Fatalf("limit %d, %d bytes: %d envelopes, want %d", c.limit, c.maxBytes, len(got), c.want)
		}
		for i, e := range got {
			if e.Seq != res[i].Seq || !bytes.Equal(e.Data, batch[i].Data) {
				t.Fatalf("limit %d, %d bytes: envelope %d is not the stored one", c.limit, c.maxBytes, i)
			}
		}
	}
}

func testAppendAndPending(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, a := f.register("alice")
	_, b := f.register("bob")
	batch := []store.NewEnvelope{env(a.Mailbox, 10), env(b.Mailbox, 20), env("nobody", 5), env(a.Mailbox, 30)}
	res, err := f.db.AppendEnvelopes(f.ctx, batch, store.MailboxLimits{MaxCount: 100, MaxBytes: 1 << 20})
	f.must(err)
	if len(res) != 4 || res[0].Err != nil || res[1].Err != nil || !errors.Is(res[2].Err, store.ErrNotFound) || res[3].Err != nil {
		t.Fatalf("results: %s", describe(res))
	}
	if !(res[0].Seq < res[1].Seq && res[1].Seq < res[3].Seq) {
		t.Fatalf("sequence numbers not increasing: %s", describe(res))
	}
	if res, err := f.db.AppendEnvelopes(f.ctx, nil, store.MailboxLimits{}); err != nil || len(res) != 0 {
		t.Fatalf("empty batch = %v, %v", res, err)
	}

	got, err := f.db.PendingEnvelopes(f.ctx, a.Mailbox, 0, 10)
	f.must(err)
	if len(got) != 2 || got[0].Seq != res[0].Seq || got[1].Seq != res[3].Seq ||
		!bytes.Equal(got[0].Data, batch[0].Data) || !bytes.Equal(got[1].Data, batch[3].Data) ||
		got[0].Mailbox != a.Mailbox || !got[0].StoredAt.Equal(f.now.Now()) {
		t.Fatalf("PendingEnvelopes = %+v", got)
	}
	// Paging: after the first, with a limit.
	page, err := f.db.PendingEnvelopes(f.ctx, a.Mailbox, res[0].Seq, 10)
	f.must(err)
	if len(page) != 1 || page[0].Seq != res[3].Seq {
		t.Fatalf("page after %d = %+v", res[0].Seq, page)
	}
	page, err = f.db.PendingEnvelopes(f.ctx, a.Mailbox, 0, 1)
	f.must(err)
	if len(page) != 1 || page[0].Seq != res[0].Seq {
		t.Fatalf("page of 1 = %+v", page)
	}
	_, err = f.db.PendingEnvelopes(f.ctx, a.Mailbox, 0, 0)
	wantErr(t, "PendingEnvelopes with limit 0", err, ErrInvalid)

	count, size, err := f.db.MailboxUsage(f.ctx, a.Mailbox)
	f.must(err)
	if count != 2 || size != 40 {
		t.Fatalf("usage = %d, %d; want 2, 40", count, size)
	}
	_, _, err = f.db.MailboxUsage(f.ctx, "nobody")
	wantErr(t, "MailboxUsage(nobody)", err, store.ErrNotFound)

	n, err := f.db.AckEnvelopes(f.ctx, a.Mailbox, []int64{res[0].Seq, res[0].Seq, 999999})
	f.must(err)
	if n != 1 {
		t.Fatalf("AckEnvelopes deleted %d, want 1", n)
	}
	got, err = f.db.PendingEnvelopes(f.ctx, a.Mailbox, 0, 10)
	f.must(err)
	if len(got) != 1 || got[0].Seq != res[3].Seq {
		t.Fatalf("after ack: %+v", got)
	}
	count, size, _ = f.db.MailboxUsage(f.ctx, a.Mailbox)
	if count != 1 || size != 30 {
		t.Fatalf("usage after ack = %d, %d; want 1, 30", count, size)
	}
	if n, err := f.db.AckEnvelopes(f.ctx, "nobody", []int64{res[3].Seq}); err != nil || n != 0 {
		t.Fatalf("AckEnvelopes(nobody) = %d, %v", n, err)
	}

	// A sequence number is never reused, even after the newest envelope
	// was acknowledged.
	f.db.AckEnvelopes(f.ctx, a.Mailbox, []int64{res[3].Seq})
	f.db.AckEnvelopes(f.ctx, b.Mailbox, []int64{res[1].Seq})
	res2, err := f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{env(a.Mailbox, 1)}, store.MailboxLimits{})
	f.must(err)
	if res2[0].Err != nil || res2[0].Seq <= res[3].Seq {
		t.Fatalf("seq after acking everything = %d, last was %d", res2[0].Seq, res[3].Seq)
	}
}

func testMailboxLimits(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, a := f.register("alice")
	_, b := f.register("bob")
	lim := store.MailboxLimits{MaxCount: 3, MaxBytes: 100}

	// By count: the fourth envelope for alice is refused, bob's still go in.
	batch := []store.NewEnvelope{env(a.Mailbox, 1), env(a.Mailbox, 1), env(b.Mailbox, 1), env(a.Mailbox, 1), env(a.Mailbox, 1), env(b.Mailbox, 1)}
	res, err := f.db.AppendEnvelopes(f.ctx, batch, lim)
	f.must(err)
	for i, want := range []error{nil, nil, nil, nil, store.ErrMailboxFull, nil} {
		if !errors.Is(res[i].Err, want) {
			t.Fatalf("count limit: %s", describe(res))
		}
	}
	// By bytes: 60 fits for bob (2 bytes stored), a further 40 does not,
	// a smaller one after it still does.
	res, err = f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{env(b.Mailbox, 60), env(b.Mailbox, 40), env(a.Mailbox, 1)}, store.MailboxLimits{MaxBytes: 100})
	f.must(err)
	if res[0].Err != nil || !errors.Is(res[1].Err, store.ErrMailboxFull) || res[2].Err != nil {
		t.Fatalf("byte limit: %s", describe(res))
	}
	res, err = f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{env(b.Mailbox, 38), env(b.Mailbox, 1)}, store.MailboxLimits{MaxBytes: 100})
	f.must(err)
	if res[0].Err != nil || !errors.Is(res[1].Err, store.ErrMailboxFull) {
		t.Fatalf("exactly at the byte limit: %s", describe(res))
	}
	count, size, _ := f.db.MailboxUsage(f.ctx, b.Mailbox)
	if count != 4 || size != 100 {
		t.Fatalf("bob's usage = %d, %d; want 4, 100", count, size)
	}
	// A refused envelope was not stored.
	got, _ := f.db.PendingEnvelopes(f.ctx, a.Mailbox, 0, 100)
	if len(got) != 4 {
		t.Fatalf("alice has %d envelopes, want 4", len(got))
	}
	// Acknowledging makes room again.
	f.db.AckEnvelopes(f.ctx, a.Mailbox, []int64{got[0].Seq})
	res, err = f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{env(a.Mailbox, 1), env(a.Mailbox, 1)}, store.MailboxLimits{MaxCount: 4})
	f.must(err)
	if res[0].Err != nil || !errors.Is(res[1].Err, store.ErrMailboxFull) {
		t.Fatalf("after ack: %s", describe(res))
	}
}

// testAckOtherMailbox is a security regression test: a device
// acknowledging sequence numbers of another mailbox must not delete that
// mailbox's envelopes.
func testAckOtherMailbox(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, a := f.register("alice")
	_, m := f.register("mallory")
	res, err := f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{env(a.Mailbox, 10), env(a.Mailbox, 10), env(m.Mailbox, 10)}, store.MailboxLimits{})
	f.must(err)
	n, err := f.db.AckEnvelopes(f.ctx, m.Mailbox, []int64{res[0].Seq, res[1].Seq, res[2].Seq})
	f.must(err)
	if n != 1 {
		t.Fatalf("mallory's ack deleted %d envelopes, want only her own 1", n)
	}
	got, _ := f.db.PendingEnvelopes(f.ctx, a.Mailbox, 0, 10)
	if len(got) != 2 {
		t.Fatalf("alice has %d envelopes after mallory acked hers, want 2", len(got))
	}
	if count, size, _ := f.db.MailboxUsage(f.ctx, a.Mailbox); count != 2 || size != 20 {
		t.Fatalf("alice's usage = %d, %d", count, size)
	}
}

func testExpireEnvelopes(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, a := f.register("alice")
	_, b := f.register("bob")
	now := f.now.Now()
	envs := []store.NewEnvelope{
		{Mailbox: a.Mailbox, Data: randBytes(10), ExpiresAt: now.Add(time.Hour)},
		{Mailbox: a.Mailbox, Data: randBytes(20), ExpiresAt: now.Add(3 * time.Hour)},
		{Mailbox: b.Mailbox, Data: randBytes(30), ExpiresAt: now.Add(time.Hour)},
		{Mailbox: b.Mailbox, Data: randBytes(40)}, // never expires
	}
	res, err := f.db.AppendEnvelopes(f.ctx, envs, store.MailboxLimits{})
	f.must(err)
	n, err := f.db.ExpireEnvelopes(f.ctx, now.Add(time.Hour))
	f.must(err)
	if n != 0 {
		t.Fatalf("ExpireEnvelopes at the expiry instant deleted %d", n)
	}
	n, err = f.db.ExpireEnvelopes(f.ctx, now.Add(2*time.Hour))
	f.must(err)
	if n != 2 {
		t.Fatalf("ExpireEnvelopes deleted %d, want 2", n)
	}
	got, _ := f.db.PendingEnvelopes(f.ctx, a.Mailbox, 0, 10)
	if len(got) != 1 || got[0].Seq != res[1].Seq {
		t.Fatalf("alice's envelopes after expiry: %+v", got)
	}
	if count, size, _ := f.db.MailboxUsage(f.ctx, a.Mailbox); count != 1 || size != 20 {
		t.Fatalf("alice's usage after expiry = %d, %d; want 1, 20", count, size)
	}
	if count, size, _ := f.db.MailboxUsage(f.ctx, b.Mailbox); count != 1 || size != 40 {
		t.Fatalf("bob's usage after expiry = %d, %d; want 1, 40", count, size)
	}
	if n, err := f.db.ExpireEnvelopes(f.ctx, now.Add(24*365*time.Hour)); err != nil || n != 1 {
		t.Fatalf("final sweep = %d, %v; want 1 (the one without expiry stays)", n, err)
	}

	// More than one sweep batch.
	many := make([]store.NewEnvelope, expireBatch+10)
	for i := range many {
		many[i] = store.NewEnvelope{Mailbox: a.Mailbox, Data: []byte{1}, ExpiresAt: now}
	}
	_, err = f.db.AppendEnvelopes(f.ctx, many, store.MailboxLimits{})
	f.must(err)
	n, err = f.db.ExpireEnvelopes(f.ctx, now.Add(time.Second))
	f.must(err)
	if n != int64(len(many)) {
		t.Fatalf("large sweep deleted %d, want %d", n, len(many))
	}
	if count, _, _ := f.db.MailboxUsage(f.ctx, a.Mailbox); count != 0 {
		t.Fatalf("usage after the large sweep = %d", count)
	}
}

func testDeviceDeletionDropsMailbox(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, a := f.register("alice")
	f.must(f.db.AddDevice(f.ctx, device("alice", 2), preKey(1), preKey(2)))
	_, err := f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{env(a.Mailbox, 10)}, store.MailboxLimits{})
	f.must(err)
	f.must(f.db.DeleteDevice(f.ctx, "alice", 1))
	res, err := f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{env(a.Mailbox, 10)}, store.MailboxLimits{})
	f.must(err)
	wantErr(t, "append to a deleted device's mailbox", res[0].Err, store.ErrNotFound)
	if got, _ := f.db.PendingEnvelopes(f.ctx, a.Mailbox, 0, 10); len(got) != 0 {
		t.Fatalf("%d envelopes left in a deleted device's mailbox", len(got))
	}
}

// testAppendConcurrent appends from many goroutines over two handles and
// checks that every envelope got a distinct seq and the counters match.
func testAppendConcurrent(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	var boxes []string
	for _, n := range []string{"alice", "bob", "carol"} {
		_, d := f.register(n)
		boxes = append(boxes, d.Mailbox)
	}
	dbs := []*DB{f.db, reopen(t, f.db)}
	const workers, batches = 8, 10
	seqs := make(chan int64, workers*batches*len(boxes))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range batches {
				// Mailboxes in a different order per worker: PostgreSQL
				// must not deadlock.
				var batch []store.NewEnvelope
				for i := range boxes {
					batch = append(batch, env(boxes[(i+w)%len(boxes)], 10))
				}
				res, err := dbs[w%2].AppendEnvelopes(f.ctx, batch, store.MailboxLimits{MaxCount: 1000})
				if err != nil {
					t.Error(err)
					return
				}
				for _, r := range res {
					if r.Err != nil {
						t.Error(r.Err)
					}
					seqs <- r.Seq
				}
			}
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[int64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d assigned twice", s)
		}
		seen[s] = true
	}
	for _, box := range boxes {
		count, size, err := f.db.MailboxUsage(f.ctx, box)
		f.must(err)
		got, _ := f.db.PendingEnvelopes(f.ctx, box, 0, 1000)
		if count != workers*batches || size != 10*workers*batches || len(got) != workers*batches {
			t.Fatalf("mailbox usage %d/%d, %d stored; want %d", count, size, len(got), workers*batches)
		}
	}
}

// testPagingNeverSkips reads a mailbox with an afterSeq cursor while
// concurrent batches (over two handles, as two server instances) append to
// it. A batch that committed after a later one but with lower sequence
// numbers would be skipped by the cursor and never delivered.
func testPagingNeverSkips(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, d := f.register("alice")
	dbs := []*DB{f.db, reopen(t, f.db)}
	const writers, batches, size = 4, 15, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range batches {
				batch := make([]store.NewEnvelope, size)
				for i := range batch {
					batch[i] = env(d.Mailbox, 8)
				}
				if _, err := dbs[w%2].AppendEnvelopes(f.ctx, batch, store.MailboxLimits{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[int64]bool{}
	var after int64
	read := func() {
		page, err := f.db.PendingEnvelopes(f.ctx, d.Mailbox, after, 1000)
		f.must(err)
		for _, e := range page {
			seen[e.Seq] = true
			after = e.Seq
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		read()
	}
	read()
	if len(seen) != writers*batches*size {
		t.Fatalf("the cursor saw %d envelopes of %d", len(seen), writers*batches*size)
	}
}
