package sqlstore

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// testBundleKeysLimits checks the hand-out limits: one hand-out per
// requester and period, at most DeviceMax per window for the device, and
// the withheld counters its owner reads.
func testBundleKeysLimits(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")
	var x, k []store.PreKey
	for i := range 10 {
		x, k = append(x, preKey(uint32(100+i))), append(k, preKey(uint32(200+i)))
	}
	f.must(f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime, x))
	f.must(f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindKEMOneTime, k[:2]))
	lim := store.HandOutLimits{RequesterPeriod: time.Hour, DeviceMax: 3, DeviceWindow: 10 * time.Minute}
	take := func(requester string) *store.BundleKeys {
		t.Helper()
		b, err := f.db.TakeBundleKeys(f.ctx, "alice", 1, requester, f.now.Now(), lim)
		f.must(err)
		return b
	}
	b := take("bob")
	if b.Withheld != store.NotWithheld || b.OneTime == nil || b.OneTime.KeyID != 100 || b.KEMOneTime == nil || b.KEMOneTime.KeyID != 200 {
		t.Fatalf("first hand-out = %+v", b)
	}
	if b := take("bob"); b.Withheld != store.WithheldRepeat || b.OneTime != nil || b.KEMOneTime != nil {
		t.Fatalf("repeat requester got %+v", b)
	}
	if b := take("carol"); b.OneTime == nil || b.KEMOneTime == nil || b.KEMOneTime.KeyID != 201 {
		t.Fatalf("carol got %+v", b)
	}
	// The KEM pool is empty now: the X25519 one still goes out.
	if b := take("dave"); b.OneTime == nil || b.KEMOneTime != nil || b.Withheld != store.NotWithheld {
		t.Fatalf("dave got %+v", b)
	}
	if b := take("erin"); b.Withheld != store.WithheldLimit || b.OneTime != nil {
		t.Fatalf("over the device limit: %+v", b)
	}
	if n, _ := f.db.CountOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime); n != 7 {
		t.Fatalf("%d one-time prekeys left, want 7", n)
	}
	r, err := f.db.HandOutReport(f.ctx, "alice", 1, f.now.Now().Add(-time.Hour))
	f.must(err)
	if r.HandedOut != 3 || r.Requesters != 3 || r.Repeats != 1 || r.Limited != 1 || !r.LastLimited.Equal(f.now.Now()) {
		t.Fatalf("report = %+v", r)
	}
	// The window passes: the device hands out again; bob's period has not.
	f.now.Add(11 * time.Minute)
	if b := take("erin"); b.OneTime == nil {
		t.Fatalf("erin after the window: %+v", b)
	}
	if b := take("bob"); b.Withheld != store.WithheldRepeat {
		t.Fatalf("bob within his period: %+v", b)
	}
	f.now.Add(time.Hour)
	n, err := f.db.ExpireHandOuts(f.ctx, f.now.Now().Add(-time.Hour))
	f.must(err)
	if n != 3 {
		t.Fatalf("expired %d hand-outs, want 3 (erin's second stays)", n)
	}
	if b := take("bob"); b.OneTime == nil {
		t.Fatalf("bob after his period: %+v", b)
	}
	_, err = f.db.TakeBundleKeys(f.ctx, "alice", 9, "bob", f.now.Now(), lim)
	wantErr(t, "TakeBundleKeys of an unknown device", err, store.ErrNotFound)
	r, err = f.db.HandOutReport(f.ctx, "nobody", 1, time.Time{})
	f.must(err)
	if *r != (store.HandOutReport{}) {
		t.Fatalf("report of an unknown device = %+v", r)
	}
	// Deleting the device forgets its hand-outs.
	f.must(f.db.DeleteDevice(f.ctx, "alice", 1))
	var rows int
	f.must(f.db.queryRow(f.ctx, "SELECT COUNT(*) FROM prekey_handouts").Scan(&rows))
	if rows != 0 {
		t.Fatalf("%d hand-outs left after the device was deleted", rows)
	}
}

// testBundleKeysConcurrent is a security regression test: concurrent
// fetches from many requesters, through two handles on the database (two
// server instances), never exceed the device's hand-out limit.
func testBundleKeysConcurrent(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")
	var ks []store.PreKey
	for i := range 100 {
		ks = append(ks, preKey(uint32(i+1)))
	}
	f.must(f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime, ks))
	dbs := []*DB{f.db, reopen(t, f.db)}
	lim := store.HandOutLimits{RequesterPeriod: time.Hour, DeviceMax: 5, DeviceWindow: time.Hour}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for g := range 40 {
		wg.Go(func() {
			b, err := dbs[g%2].TakeBundleKeys(f.ctx, "alice", 1, fmt.Sprintf("user%d", g), f.now.Now(), lim)
			if err != nil {
				t.Error(err)
				return
			}
			if b.OneTime != nil {
				mu.Lock()
				got++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got != 5 {
		t.Fatalf("%d hand-outs under a limit of 5", got)
	}
}

// testClaimRequest checks the replay guard's store: a hash is claimed once
// while unexpired, an account over its bound is refused instead of an old
// record being dropped, and records survive a reopen.
func testClaimRequest(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	h := func(i int) []byte { s := sha256.Sum256(fmt.Appendf(nil, "req %d", i)); return s[:] }
	claim := func(db *DB, i int, account string) error {
		return db.ClaimRequest(f.ctx, h(i), account, f.now.Now().Add(10*time.Minute), f.now.Now(), 3)
	}
	f.must(claim(f.db, 1, "alice"))
	wantErr(t, "claiming a hash twice", claim(f.db, 1, "alice"), store.ErrExists)
	wantErr(t, "claiming a hash of another account", claim(f.db, 1, "bob"), store.ErrExists)
	f.must(claim(f.db, 2, "alice"))
	f.must(claim(f.db, 3, "alice"))
	wantErr(t, "claiming over the bound", claim(f.db, 4, "alice"), store.ErrLimit)
	f.must(claim(f.db, 4, "bob")) // another account is not affected
	// Nothing was forgotten to make room, also not across a reopen.
	db2 := reopen(t, f.db)
	for i := 1; i <= 3; i++ {
		wantErr(t, fmt.Sprintf("replay %d after reopen", i), claim(db2, i, "alice"), store.ErrExists)
	}
	n, err := f.db.ExpireRequests(f.ctx, f.now.Now())
	f.must(err)
	if n != 0 {
		t.Fatalf("swept %d unexpired records", n)
	}
	f.now.Add(10 * time.Minute)
	// Expired, not yet swept: the record is replaced (the request's
	// timestamp is stale by now, so the directory refuses it before it
	// gets here).
	f.must(claim(f.db, 1, "alice"))
	n, err = f.db.ExpireRequests(f.ctx, f.now.Now())
	f.must(err)
	if n != 3 {
		t.Fatalf("swept %d expired records, want 3", n)
	}
	wantErr(t, "claiming the replaced record", claim(f.db, 1, "alice"), store.ErrExists)
	wantErr(t, "empty hash", f.db.ClaimRequest(f.ctx, nil, "alice", f.now.Now(), f.now.Now(), 0), ErrInvalid)
}
