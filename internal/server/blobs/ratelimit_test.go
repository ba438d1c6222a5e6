package blobs

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/testkit"
)

func TestUploadLimiterRefillsAtItsRate(t *testing.T) {
	clk := testkit.NewClock(time.Unix(1000, 0))
	l := newUploadLimiter(100, 300, clk.Now) // 100 bytes/s, burst 300
	if ok, _ := l.take("alice", 300); !ok {
		t.Fatal("the burst was refused")
	}
	ok, wait := l.take("alice", 50)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("empty bucket: ok %v, wait %v; want a refusal for 500ms", ok, wait)
	}
	if ok, _ := l.take("bob", 300); !ok {
		t.Fatal("another account shares alice's bucket")
	}
	clk.Advance(500 * time.Millisecond)
	if ok, _ := l.take("alice", 50); !ok {
		t.Fatal("refused after waiting as told")
	}
	clk.Advance(time.Hour)
	if ok, _ := l.take("alice", 301); ok {
		t.Fatal("the bucket grew beyond its burst")
	}
}

func TestUploadLimiterForgetsIdleAccounts(t *testing.T) {
	clk := testkit.NewClock(time.Unix(1000, 0))
	l := newUploadLimiter(100, 100, clk.Now)
	for i := range 5 * minSweep {
		l.take(fmt.Sprintf("user%d", i), 1)
		if i%minSweep == 0 {
			clk.Advance(time.Second) // the earlier buckets refill
		}
	}
	if n := l.len(); n > 2*minSweep {
		t.Fatalf("%d buckets held for %d accounts that uploaded once", n, 5*minSweep)
	}
}

// TestUploadRateIsPerAccount: every device of an account draws on the
// same bucket, so more devices do not mean more bandwidth.
func TestUploadRateIsPerAccount(t *testing.T) {
	e := newEnv(t, Config{UploadRate: testChunk, UploadBurst: 2 * testChunk})
	a1, a2, bob := e.login("alice", 1), e.login("alice", 2), e.login("bob", 1)
	cr := e.create(a1, 10*testChunk, testChunk, 1)
	chunk := fileOf(testChunk, 5)
	want(t, "first device", e.put(a1, cr.ID, 0, chunk), http.StatusNoContent, "")
	want(t, "second device", e.put(a2, cr.ID, 1, chunk), http.StatusNoContent, "")
	r := e.put(a2, cr.ID, 2, chunk)
	want(t, "the account's burst is spent", r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	other := e.create(bob, testChunk, testChunk, 1)
	want(t, "another account", e.put(bob, other.ID, 0, chunk), http.StatusNoContent, "")
	e.clock.Advance(time.Second)
	want(t, "after a second", e.put(a1, cr.ID, 2, chunk), http.StatusNoContent, "")
}
