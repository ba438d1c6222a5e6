package sqlstore

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// A device keeps at most max outstanding challenges: a new one replaces
// the oldest, never itself, and expired ones are dropped.
func TestPutTokenCapped(t *testing.T) {
	bothBackends(t, func(t *testing.T, open func(t *testing.T) *DB) {
		f := newFixture(t, open)
		f.register("alice")
		put := func(i int, ttl time.Duration) []byte {
			h := []byte(fmt.Sprintf("hash-%04d", i))
			f.now.Add(time.Millisecond)
			f.must(f.db.PutTokenCapped(f.ctx, store.Token{Hash: h, Purpose: "auth-challenge", Username: "alice", DeviceID: 1,
				ExpiresAt: f.now.Now().Add(ttl)}, 3, f.now.Now()))
			return h
		}
		var hs [][]byte
		for i := range 10 {
			hs = append(hs, put(i, time.Minute))
		}
		// An activation token of the same account is not a challenge.
		f.must(f.db.PutToken(f.ctx, store.Token{Hash: []byte("other"), Purpose: "activate", Username: "alice", ExpiresAt: f.now.Now().Add(time.Hour)}))
		for i, h := range hs {
			_, err := f.db.TakeToken(f.ctx, h, "auth-challenge", f.now.Now())
			if (i >= 7) != (err == nil) {
				t.Fatalf("token %d: %v (want only the 3 newest kept)", i, err)
			}
		}
		if _, err := f.db.TakeToken(f.ctx, []byte("other"), "activate", f.now.Now()); err != nil {
			t.Fatalf("another purpose was capped: %v", err)
		}
		// Expired ones go at the next insert, even under the cap.
		old := put(100, time.Millisecond)
		f.now.Add(time.Second)
		put(101, time.Minute)
		if _, err := f.db.TakeToken(f.ctx, old, "auth-challenge", time.Unix(0, 0)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired challenge kept: %v", err)
		}
		err := f.db.PutTokenCapped(f.ctx, store.Token{Hash: []byte("x"), Purpose: "auth-challenge", Username: "alice", DeviceID: 9,
			ExpiresAt: f.now.Now().Add(time.Minute)}, 3, f.now.Now())
		wantErr(t, "PutTokenCapped for an unknown device", err, store.ErrNotFound)
	})
}
