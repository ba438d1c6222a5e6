package sqlstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

func testBlobQuota(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	now := f.now.Now()
	q := store.BlobQuota{MaxBytes: 100, MinCharge: 10, MaxIncomplete: 3}
	mk := func(id, owner string, size int64, exp time.Time) store.Blob {
		b := newBlob(id, size, 10, 1, exp)
		b.Owner, b.CreatedAt = owner, now
		return b
	}
	f.must(f.db.CreateBlob(f.ctx, mk("a1", "alice", 60, now.Add(time.Hour)), q))
	// 60 + 41 > 100, while 40 fits.
	wantErr(t, "over the byte quota", f.db.CreateBlob(f.ctx, mk("a2", "alice", 41, now.Add(time.Hour)), q), store.ErrBlobQuota)
	wantErr(t, "bigger than the quota", f.db.CreateBlob(f.ctx, mk("big", "bob", 101, now.Add(time.Hour)), q), store.ErrBlobQuota)
	// Another owner has a quota of its own.
	f.must(f.db.CreateBlob(f.ctx, mk("b1", "bob", 100, now.Add(time.Hour)), q))
	// Tiny blobs count MinCharge each: 60 + 3×10 = 90, then the fourth
	// incomplete blob is refused first by count.
	f.must(f.db.CreateBlob(f.ctx, mk("a2", "alice", 1, now.Add(time.Hour)), q))
	f.must(f.db.CreateBlob(f.ctx, mk("a3", "alice", 1, now.Add(time.Hour)), q))
	wantErr(t, "a fourth incomplete blob", f.db.CreateBlob(f.ctx, mk("a4", "alice", 1, now.Add(time.Hour)), q), store.ErrBlobUploads)
	// Completing one frees its place among the incomplete ones, not its
	// bytes.
	f.must(f.db.PutChunk(f.ctx, "a2", 0, randBytes(1)))
	f.must(f.db.CreateBlob(f.ctx, mk("a4", "alice", 1, now.Add(time.Hour)), q))
	// 90 bytes held: 10 more fit, 11 do not.
	wantErr(t, "one byte over", f.db.CreateBlob(f.ctx, mk("a5", "alice", 11, now.Add(time.Hour)), store.BlobQuota{MaxBytes: 100, MinCharge: 10}), store.ErrBlobQuota)
	// A deleted blob frees its bytes.
	c, err := f.db.MarkFetched(f.ctx, "a2", "bob", 1)
	f.must(err)
	if !c.Deleted {
		t.Fatalf("MarkFetched = %+v", c)
	}
	f.must(f.db.CreateBlob(f.ctx, mk("a5", "alice", 11, now.Add(time.Hour)), store.BlobQuota{MaxBytes: 100, MinCharge: 10}))
	// Expired blobs count for nothing even before ExpireBlobs runs.
	f.must(f.db.CreateBlob(f.ctx, mk("c1", "carol", 100, now.Add(time.Minute)), q))
	later := mk("c2", "carol", 100, now.Add(2*time.Hour))
	later.CreatedAt = now.Add(2 * time.Minute)
	f.must(f.db.CreateBlob(f.ctx, later, q))
	// A zero quota sets no bound.
	f.must(f.db.CreateBlob(f.ctx, mk("d1", "dave", 1<<40, now.Add(time.Hour)), store.BlobQuota{}))
}

// testBlobQuotaConcurrent: creations racing for the last room of one
// account's quota never overshoot it.
func testBlobQuotaConcurrent(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice") // PostgreSQL serializes an owner's creations on its account row
	q := store.BlobQuota{MaxBytes: 50}
	const n = 100
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = f.db.CreateBlob(f.ctx, newBlob(fmt.Sprintf("r%d", i), 10, 10, 1, time.Time{}), q)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrBlobQuota):
			t.Fatalf("CreateBlob: %v", err)
		}
	}
	if ok != 5 {
		t.Fatalf("%d blobs of 10 bytes created under a 50-byte quota", ok)
	}
}

func testBlobCompletionShares(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	b := newBlob("b", 10, 10, 4, time.Time{})
	b.MultiDevice = map[string]int{"bob": 2}
	f.must(f.db.CreateBlob(f.ctx, b, store.BlobQuota{}))
	bad := newBlob("bad", 10, 10, 2, time.Time{})
	bad.MultiDevice = map[string]int{"bob": 3}
	wantErr(t, "a share above the recipients", f.db.CreateBlob(f.ctx, bad, store.BlobQuota{}), ErrInvalid)
	f.must(f.db.PutChunk(f.ctx, "b", 0, randBytes(10)))
	mark := func(user string, dev uint32, want store.Completion) {
		t.Helper()
		c, err := f.db.MarkFetched(f.ctx, "b", user, dev)
		f.must(err)
		if c != want {
			t.Fatalf("MarkFetched(%s, %d) = %+v, want %+v", user, dev, c, want)
		}
	}
	counted, repeat, none := store.Completion{Counted: true}, store.Completion{Repeat: true}, store.Completion{}
	mark("carol", 1, counted)
	mark("carol", 1, repeat)
	mark("carol", 2, none) // carol's share is one
	mark("carol", 3, none)
	mark("bob", 1, counted)
	// A restarted server, or another instance, remembers who reported.
	db2 := reopen(t, f.db)
	if c, err := db2.MarkFetched(f.ctx, "b", "bob", 1); err != nil || c != repeat {
		t.Fatalf("after reopening: MarkFetched(bob, 1) = %+v, %v", c, err)
	}
	if c, err := db2.MarkFetched(f.ctx, "b", "carol", 4); err != nil || c != none {
		t.Fatalf("after reopening: MarkFetched(carol, 4) = %+v, %v", c, err)
	}
	mark("bob", 2, counted)
	mark("bob", 3, none) // bob's share is two
	if got, _ := f.db.GetBlob(f.ctx, "b"); got.Fetched != 3 {
		t.Fatalf("Fetched = %d, want 3", got.Fetched)
	}
	mark("dave", 7, store.Completion{Counted: true, Deleted: true})
	_, err := f.db.MarkFetched(f.ctx, "b", "erin", 1)
	wantErr(t, "MarkFetched after deletion", err, store.ErrNotFound)
	// Deleting the blob took its records along.
	for _, table := range []string{"blob_done", "blob_accounts"} {
		var n int
		f.must(f.db.queryRow(f.ctx, "SELECT COUNT(*) FROM "+table+" WHERE blob_id = ?", "b").Scan(&n))
		if n != 0 {
			t.Fatalf("%d rows left in %s", n, table)
		}
	}
}
