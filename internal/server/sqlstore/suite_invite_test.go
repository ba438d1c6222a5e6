package sqlstore

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// The invite tests run against both backends like the shared suite.

func TestSQLiteInvites(t *testing.T) {
	runInviteSuite(t, func(t *testing.T) *DB { return openSQLite(t) })
}

func TestPostgresInvites(t *testing.T) {
	if os.Getenv("HUSH_TEST_POSTGRES") == "" {
		t.Skip("HUSH_TEST_POSTGRES not set")
	}
	runInviteSuite(t, func(t *testing.T) *DB { return openPostgres(t) })
}

func runInviteSuite(t *testing.T, open func(t *testing.T) *DB) {
	for name, fn := range map[string]func(*testing.T, func(*testing.T) *DB){
		"RedeemOnce":          testInviteRedeemOnce,
		"RedeemRefusals":      testInviteRedeemRefusals,
		"MultiUseRelease":     testInviteMultiUseRelease,
		"RedeemConcurrent":    testInviteRedeemConcurrent,
		"UserLimit":           testInviteUserLimit,
		"UserLimitConcurrent": testInviteUserLimitConcurrent,
	} {
		t.Run(name, func(t *testing.T) { fn(t, open) })
	}
}

// putInvite stores an operator invite for code, valid for ttl.
func (f *fixture) putInvite(code string, uses int, ttl time.Duration) []byte {
	f.t.Helper()
	h := sha256.Sum256([]byte(code))
	f.must(f.db.PutInvite(f.ctx, store.Invite{Hash: h[:], CreatedAt: f.now.Now(), ExpiresAt: f.now.Now().Add(ttl), MaxUses: uses}))
	return h[:]
}

// redeem registers username with the invite.
func (f *fixture) redeem(hash []byte, username string) (*store.Invite, error) {
	a := store.Account{Username: username, IdentityKey: randBytes(32), CreatedAt: f.now.Now()}
	return f.db.CreateAccountWithInvite(f.ctx, hash, f.now.Now(), a, device(username, 1), preKey(1), preKey(2), false)
}

func (f *fixture) exists(username string) bool {
	f.t.Helper()
	_, err := f.db.GetAccount(f.ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		f.t.Fatal(err)
	}
	return err == nil
}

func testInviteRedeemOnce(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	h := f.putInvite("code-a", 1, time.Hour)
	wantErr(t, "same invite again", f.db.PutInvite(f.ctx, store.Invite{Hash: h, ExpiresAt: f.now.Now().Add(time.Hour), MaxUses: 1}), store.ErrExists)
	inv, err := f.redeem(h, "alice")
	f.must(err)
	if inv.CreatedBy != "" || inv.MaxUses != 1 || inv.Used != 0 || !inv.ExpiresAt.Equal(f.now.Now().Add(time.Hour)) {
		t.Fatalf("redeemed invite %+v", inv)
	}
	if !f.exists("alice") {
		t.Fatal("account not created")
	}
	_, err = f.redeem(h, "bob")
	wantErr(t, "second use", err, store.ErrInviteUsed)
	if f.exists("bob") {
		t.Fatal("account created with a used invite")
	}
}

func testInviteRedeemRefusals(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, err := f.redeem(randBytes(32), "alice")
	wantErr(t, "unknown invite", err, store.ErrNotFound)

	h := f.putInvite("code-b", 1, time.Hour)
	f.register("taken")
	// The account fails, so the invite is not used either.
	_, err = f.redeem(h, "taken")
	wantErr(t, "username taken", err, store.ErrUsernameTaken)
	f.now.Add(time.Hour)
	_, err = f.redeem(h, "alice")
	wantErr(t, "expired invite", err, store.ErrInviteExpired)
	if f.exists("alice") {
		t.Fatal("account created with an expired invite")
	}
	wantErr(t, "zero uses", f.db.PutInvite(f.ctx, store.Invite{Hash: randBytes(32), ExpiresAt: f.now.Now().Add(time.Hour)}), ErrInvalid)
}

func testInviteMultiUseRelease(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	h := f.putInvite("code-c", 3, time.Hour)
	for i := range 3 {
		inv, err := f.redeem(h, fmt.Sprintf("user%d", i))
		f.must(err)
		if inv.Used != i {
			t.Fatalf("use %d saw %d earlier uses", i, inv.Used)
		}
	}
	_, err := f.redeem(h, "user3")
	wantErr(t, "fourth use of three", err, store.ErrInviteUsed)
	f.must(f.db.ReleaseInvite(f.ctx, h))
	_, err = f.redeem(h, "user3")
	f.must(err)
	wantErr(t, "release of an unknown invite", f.db.ReleaseInvite(f.ctx, randBytes(32)), store.ErrNotFound)
}

// testInviteRedeemConcurrent is a security regression test: one code
// redeemed by many registrations at once admits exactly one account.
func testInviteRedeemConcurrent(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	h := f.putInvite("code-d", 1, time.Hour)
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = f.redeem(h, fmt.Sprintf("racer%02d", i)) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			if !f.exists(fmt.Sprintf("racer%02d", i)) {
				t.Fatalf("racer%02d won but has no account", i)
			}
		case errors.Is(err, store.ErrInviteUsed):
			if f.exists(fmt.Sprintf("racer%02d", i)) {
				t.Fatalf("racer%02d lost but has an account", i)
			}
		default:
			t.Fatalf("racer%02d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d registrations redeemed a one-use invite", won)
	}
	n2, err := f.db.CountAccounts(f.ctx)
	f.must(err)
	if n2 != 1 {
		t.Fatalf("%d accounts, want 1", n2)
	}
}

func testInviteUserLimit(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")
	put := func() error {
		return f.db.PutUserInvite(f.ctx, store.Invite{Hash: randBytes(32), CreatedBy: "alice", CreatedAt: f.now.Now(),
			ExpiresAt: f.now.Now().Add(time.Hour), MaxUses: 1}, 2)
	}
	f.must(put())
	f.must(put())
	wantErr(t, "third invite of two", put(), store.ErrInviteLimit)
	wantErr(t, "invite of an unknown user", f.db.PutUserInvite(f.ctx, store.Invite{Hash: randBytes(32), CreatedBy: "nobody",
		ExpiresAt: f.now.Now().Add(time.Hour), MaxUses: 1}, 2), store.ErrNotFound)

	// A used invite keeps counting; one that expired unused gives its
	// place back.
	h := randBytes(32)
	f.now.Add(2 * time.Hour)
	f.must(f.db.PutUserInvite(f.ctx, store.Invite{Hash: h, CreatedBy: "alice", CreatedAt: f.now.Now(),
		ExpiresAt: f.now.Now().Add(time.Hour), MaxUses: 1}, 2))
	_, err := f.redeem(h, "bob")
	f.must(err)
	f.now.Add(2 * time.Hour)
	if n, err := f.db.CountUserInvites(f.ctx, "alice", f.now.Now()); err != nil || n != 1 {
		t.Fatalf("CountUserInvites = %d, %v; want 1", n, err)
	}
	f.must(put())
	wantErr(t, "invite over the limit after one was used", put(), store.ErrInviteLimit)
}

func testInviteUserLimitConcurrent(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = f.db.PutUserInvite(f.ctx, store.Invite{Hash: randBytes(32), CreatedBy: "alice", CreatedAt: f.now.Now(),
				ExpiresAt: f.now.Now().Add(time.Hour), MaxUses: 1}, 3)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, store.ErrInviteLimit) {
			t.Fatal(err)
		}
	}
	if ok != 3 {
		t.Fatalf("%d invites stored under a limit of 3", ok)
	}
}
