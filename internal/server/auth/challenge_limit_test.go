package auth

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/proto"
)

// outstanding counts the challenge rows stored for alice's device 1.
func (f *fixture) outstanding(t *testing.T) int {
	t.Helper()
	db, err := sql.Open("sqlite", f.path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRow("SELECT count(*) FROM tokens WHERE purpose = ? AND username = 'alice' AND device_id = 1", purposeChallenge).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// loginFrom runs the whole HTTP login of alice's device 1 from addr, with
// interfere called between the challenge and the answer.
func (f *fixture) loginFrom(t *testing.T, addr string, interfere func()) int {
	t.Helper()
	rec := f.challengeFrom(addr, 1)
	if rec.Code != http.StatusOK {
		t.Fatalf("the real device's challenge: %d %s", rec.Code, rec.Body)
	}
	var cr proto.ChallengeAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &cr); err != nil {
		t.Fatal(err)
	}
	nonce, err := proto.OpenChallenge(f.dev, cr.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	interfere()
	b, _ := json.Marshal(proto.TokenRequest{Username: "alice", DeviceID: 1, Response: nonce})
	req := httptest.NewRequest("POST", "/v1/auth/token", bytes.NewReader(b))
	req.RemoteAddr = addr
	rec = httptest.NewRecorder()
	f.svc.Handler().ServeHTTP(rec, req)
	return rec.Code
}

// Security regression (issue 9 item 9): POST /v1/auth/challenge is
// unauthenticated and each answer costs an ML-KEM encapsulation and a
// database row; 2,000 requests stored 2,000 rows. They are now refused
// beyond the rate limits with rate_limited and a Retry-After, a device
// never has more than MaxOutstanding rows, and the real device still logs
// in during the flood.
func TestChallengeFloodIsBounded(t *testing.T) {
	f := newFixture(t)
	codes := map[int]int{}
	retry := ""
	for range 2000 {
		rec := f.challengeFrom("203.0.113.7:40000", 1)
		codes[rec.Code]++
		if rec.Code == http.StatusTooManyRequests {
			retry = rec.Header().Get("Retry-After")
			if !bytes.Contains(rec.Body.Bytes(), []byte(`"rate_limited"`)) {
				t.Fatalf("refusal: %s", rec.Body)
			}
		}
	}
	rows := f.outstanding(t)
	t.Logf("2,000 challenges for one device from one address: answers %v (Retry-After %s s), rows stored %d", codes, retry, rows)
	if codes[http.StatusOK] != DefaultDeviceBurst || codes[http.StatusTooManyRequests] != 2000-DefaultDeviceBurst || retry == "" {
		t.Fatalf("want %d accepted and the rest 429 with Retry-After", DefaultDeviceBurst)
	}
	if rows > DefaultMaxOutstanding {
		t.Fatalf("%d challenge rows for one device, cap %d", rows, DefaultMaxOutstanding)
	}

	// One address asking for many devices meets the per-address limit.
	codes = map[int]int{}
	for i := range 2000 {
		codes[f.challengeFrom("203.0.113.8:40000", uint32(100+i)).Code]++
	}
	t.Logf("2,000 challenges for 2,000 devices from one address: answers %v", codes)
	if codes[http.StatusNotFound] != DefaultAddrBurst || codes[http.StatusTooManyRequests] != 2000-DefaultAddrBurst {
		t.Fatalf("want %d answered and the rest 429", DefaultAddrBurst)
	}

	// Distributed: one request from each of 2,000 addresses, and the real
	// device logging in from its own address in the middle of it.
	// The clock moves a millisecond per request, as it would: challenges
	// are ordered by their expiry.
	codes = map[int]int{}
	for i := range 2000 {
		f.clock = f.clock.Add(time.Millisecond)
		codes[f.challengeFrom(fmt.Sprintf("198.51.%d.%d:40000", i/250, i%250), 1).Code]++
		if i == 1000 {
			// Strangers slip fewer than MaxOutstanding challenges in
			// between the device's challenge and its answer: it still
			// gets in.
			f.clock = f.clock.Add(time.Millisecond)
			got := f.loginFrom(t, "192.0.2.1:5555", func() {
				for j := range DefaultMaxOutstanding - 1 {
					f.clock = f.clock.Add(time.Millisecond)
					f.challengeFrom(fmt.Sprintf("198.18.0.%d:1", j), 1)
				}
			})
			if got != http.StatusOK {
				t.Fatalf("the real device could not log in during the flood: %d", got)
			}
		}
	}
	rows = f.outstanding(t)
	t.Logf("2,000 challenges for one device from 2,000 addresses: answers %v, rows stored %d", codes, rows)
	if rows > DefaultMaxOutstanding {
		t.Fatalf("%d challenge rows for one device, cap %d", rows, DefaultMaxOutstanding)
	}
	if got := f.loginFrom(t, "192.0.2.1:5555", func() {}); got != http.StatusOK {
		t.Fatalf("the real device cannot log in after the flood: %d", got)
	}

	t.Logf("limiter entries after the floods: %d addresses, %d address-device pairs", f.svc.addrLim.size(), f.svc.devLim.size())
}

// The limiter forgets keys whose buckets have refilled, so its memory
// follows the clients active in the last Burst/Rate seconds (within a
// factor of two) however many addresses have come and gone.
func TestLimiterForgetsIdleClients(t *testing.T) {
	l := newLimiter(1, 1)
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 3000 {
		l.allow(fmt.Sprint("old", i), t0)
	}
	later := t0.Add(time.Hour)
	const live = 5000
	for i := range live {
		l.allow(fmt.Sprint("new", i), later)
	}
	t.Logf("3,000 idle and %d live clients: %d entries held", live, l.size())
	if l.size() >= 3000+live || l.size() > 2*live {
		t.Fatalf("%d entries for %d live clients", l.size(), live)
	}
}

// The per-address limit refills at its rate on the injected clock.
func TestChallengeLimitRefills(t *testing.T) {
	f := newFixture(t)
	for range DefaultDeviceBurst {
		if rec := f.challengeFrom("203.0.113.7:1", 1); rec.Code != http.StatusOK {
			t.Fatalf("within the burst: %d", rec.Code)
		}
	}
	rec := f.challengeFrom("203.0.113.7:1", 1)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "6" {
		t.Fatalf("over the burst: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	f.clock = f.clock.Add(6 * time.Second)
	if rec := f.challengeFrom("203.0.113.7:1", 1); rec.Code != http.StatusOK {
		t.Fatalf("after Retry-After: %d", rec.Code)
	}
}

func TestClientKeyGroupsIPv6By64(t *testing.T) {
	f := newFixture(t)
	for i := range DefaultDeviceBurst {
		if rec := f.challengeFrom(fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1), 1); rec.Code != http.StatusOK {
			t.Fatalf("within the burst: %d", rec.Code)
		}
	}
	// Another address of the same /64 shares the allowance.
	if rec := f.challengeFrom("[2001:db8:1:2:ffff::1]:1", 1); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("same /64: %d", rec.Code)
	}
	if rec := f.challengeFrom("[2001:db8:1:3::1]:1", 1); rec.Code != http.StatusOK {
		t.Fatalf("another /64: %d", rec.Code)
	}
}
