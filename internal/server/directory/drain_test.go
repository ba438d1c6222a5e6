package directory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
)

// Regression tests for issue 9, item 5: unauthenticated, unthrottled
// bundle fetches took a device from 99 + 9 one-time prekeys to 0 + 0 in
// two seconds.

// remaining returns the one-time prekeys left for username's device 1.
func (e *env) remaining(username string) (x, kem int) {
	e.t.Helper()
	c, err := e.dir.counts(e.t.Context(), username, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.OneTimeRemaining, c.KEMOneTimeRemaining
}

// status reads the device's own prekey status as requester.
func (e *env) status(requester, username string) (int, *proto.PreKeyStatus, []byte) {
	e.t.Helper()
	code, body := e.do("GET", "/v1/users/"+username+"/devices/1/prekeys/status", nil, bearer(requester)...)
	var st proto.PreKeyStatus
	if code == http.StatusOK {
		if err := json.Unmarshal(body, &st); err != nil {
			e.t.Fatal(err)
		}
	}
	return code, &st, body
}

func TestSecurityBundleNeedsLogin(t *testing.T) {
	e := newEnv(t)
	e.register(newUser(t, "alice"), 10)
	for _, h := range [][]string{nil, {"Authorization", "Bearer"}, {"Authorization", "Bearer nonsense"},
		{"Authorization", "Basic YWxpY2U6YWxpY2U="}} {
		status, body := e.do("GET", "/v1/users/alice/devices/1/bundle", nil, h...)
		wantError(t, status, body, http.StatusUnauthorized, "unauthorized")
		t.Logf("bundle fetch with %q: %d %s", h, status, bytes.TrimSpace(body))
	}
	if x, k := e.remaining("alice"); x != 10 || k != 10 {
		t.Fatalf("refused fetches took prekeys: %d + %d left", x, k)
	}
	// Public identity lookups stay open.
	e.lookupOne("alice")
}

func TestSecurityPreKeyDrain(t *testing.T) {
	debug.SetGCPercent(10)
	defer debug.SetGCPercent(100)
	e := newEnv(t) // default limits
	alice := newUser(t, "alice")
	e.register(alice, 100)
	const floor = 100 - DefaultDeviceMax
	goroutines := runtime.NumGoroutine()
	var peak uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}

	// One account, as fast as it may: one one-time prekey, then bundles
	// without, then 429 once past its burst (the clock stands still).
	codes := map[int]int{}
	for i := range DefaultBundleBurst + 200 {
		status, body := e.getBundle("mallory", "alice", 1)
		codes[status]++
		if status == http.StatusTooManyRequests {
			wantError(t, status, body, http.StatusTooManyRequests, "rate_limited")
		}
		if i%100 == 0 {
			sample()
		}
	}
	x, k := e.remaining("alice")
	t.Logf("one account, %d fetches: answers %v; %d + %d one-time prekeys left of 100 + 100", DefaultBundleBurst+200, codes, x, k)
	if codes[http.StatusOK] != DefaultBundleBurst || codes[http.StatusTooManyRequests] != 200 {
		t.Fatalf("answers %v, want %d OK then 429", codes, DefaultBundleBurst)
	}
	if x != 99 || k != 99 {
		t.Fatalf("one account took %d + %d one-time prekeys, want 1 + 1", 100-x, 100-k)
	}

	// A few accounts: one each.
	for i := range 5 {
		for range 50 {
			if _, err := e.fetchBundleAs(fmt.Sprintf("sybil%d", i), "alice", 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	x, k = e.remaining("alice")
	t.Logf("five more accounts, 50 fetches each: %d + %d left", x, k)
	if x != 94 || k != 94 {
		t.Fatalf("%d + %d left, want 94 + 94", x, k)
	}

	// Many accounts: the device's hourly limit holds, whoever asks.
	for i := range 200 {
		if _, err := e.fetchBundleAs(fmt.Sprintf("crowd%d", i), "alice", 1); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			sample()
		}
	}
	x, k = e.remaining("alice")
	t.Logf("200 more accounts: %d + %d left (floor %d)", x, k, floor)
	if x < floor || k < floor {
		t.Fatalf("pool drained to %d + %d, below the floor %d", x, k, floor)
	}

	// The owner learns of it; nobody else may ask.
	status, st, body := e.status("alice", "alice")
	if status != http.StatusOK || st.WithheldLimit == 0 || st.HandedOut != DefaultDeviceMax || st.Requesters != DefaultDeviceMax ||
		st.DeviceMax != DefaultDeviceMax || st.OneTimeRemaining != x || st.LastLimited != e.clock.Now().Unix() {
		t.Fatalf("owner's status: %d %s", status, body)
	}
	t.Logf("owner's status: %s", bytes.TrimSpace(body))
	status, _, body = e.status("mallory", "alice")
	wantError(t, status, body, http.StatusForbidden, "forbidden")
	code, body := e.do("GET", "/v1/users/alice/devices/1/prekeys/status", nil)
	wantError(t, code, body, http.StatusUnauthorized, "unauthorized")

	// A legitimate newcomer still sets up a session: the bundle has no
	// one-time prekeys, the last-resort KEM prekey stands in, and alice
	// answers it.
	bob := newUser(t, "bob")
	ba, err := e.fetchBundleAs("bob", "alice", 1)
	if err != nil {
		t.Fatal(err)
	}
	if ba.Bundle.OneTime != nil || ba.Bundle.KEMPreKey.Kind != pqxdh.KEMLastResort {
		t.Fatal("a bundle past the limit carried one-time prekeys")
	}
	checkSession(t, bob, alice, ba.Bundle)

	// An hour on, the device hands out again.
	e.clock.Advance(DefaultDeviceWindow)
	ba, err = e.fetchBundleAs("carol", "alice", 1)
	if err != nil || ba.Bundle.OneTime == nil || ba.Bundle.KEMPreKey.Kind != pqxdh.KEMOneTime {
		t.Fatalf("after the window: %v", err)
	}
	checkSession(t, newUser(t, "carol"), alice, ba.Bundle)
	sample()
	t.Logf("peak heap %.1f MiB; goroutines %d before, %d after", float64(peak)/(1<<20), goroutines, runtime.NumGoroutine())
}

// checkSession runs PQXDH from initiator to responder over b and checks
// both sides derive the same key.
func checkSession(t *testing.T, initiator, responder *testUser, b *pqxdh.Bundle) {
	t.Helper()
	in, err := pqxdh.Initiate(initiator.dev, initiator.cert, b)
	if err != nil {
		t.Fatal(err)
	}
	f, err := responder.ring.Find(&in.Header)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pqxdh.Respond(responder.dev, responder.cert, &in.Header, f.Signed, f.KEM, f.OneTime)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in.SharedKey, out.SharedKey) {
		t.Fatal("session keys differ")
	}
}

func TestBundleRateRefills(t *testing.T) {
	e := newEnv(t, withLimits(Limits{BundleRate: 2, BundleBurst: 3}))
	e.register(newUser(t, "alice"), 5)
	for range 3 {
		if status, body := e.getBundle("bob", "alice", 1); status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/users/alice/devices/1/bundle", nil)
	req.Header.Set("Authorization", "Bearer bob:1")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the rate: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another account has its own bucket.
	if status, body := e.getBundle("carol", "alice", 1); status != http.StatusOK {
		t.Fatalf("carol: %d %s", status, body)
	}
	e.clock.Advance(500 * time.Millisecond)
	if status, body := e.getBundle("bob", "alice", 1); status != http.StatusOK {
		t.Fatalf("after refill: %d %s", status, body)
	}
	// The sweep forgets full buckets only.
	e.clock.Advance(time.Hour)
	if err := e.dir.ExpireRecords(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.dir.bundles.m); n != 0 {
		t.Fatalf("%d buckets kept after an idle hour", n)
	}
}
