package directory

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/proto"
)

// post sends a registration request (signed by u) with extra headers and
// returns the status, body and answer headers.
func (e *env) post(u *testUser, req *proto.RegisterRequest, header ...string) (int, []byte, http.Header) {
	e.t.Helper()
	body, err := proto.SignRequest(u.id, req)
	if err != nil {
		e.t.Fatal(err)
	}
	hr, err := http.NewRequest("POST", e.srv.URL+"/v1/users", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		hr.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func (e *env) countAccounts() int64 {
	e.t.Helper()
	n, err := e.st.CountAccounts(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// heapPeak samples the heap in use until stop is called and returns the
// peak. A tight GC target makes the peak follow live memory.
func heapPeak() (stop func() uint64) {
	gc := debug.SetGCPercent(25)
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); debug.SetGCPercent(gc); return peak.Load() }
}

// TestSecurityRegistrationFloodThrottled is a security regression test
// (issue 9 item 6): one client address registered 500 accounts in 3 s.
// With the default settings it gets DefaultRegistrationsPerIP, then
// 429 rate_limited with a Retry-After, and the store holds no more.
func TestSecurityRegistrationFloodThrottled(t *testing.T) {
	e := newEnv(t)
	const n = 500
	users := make([]*testUser, n)
	for i := range users {
		users[i] = newUser(t, fmt.Sprintf("flood%03d", i))
	}
	g0 := runtime.NumGoroutine()
	stop := heapPeak()
	codes := map[string]int{}
	retry := ""
	for _, u := range users {
		status, body, h := e.post(u, e.registerReq(u, 0))
		switch status {
		case http.StatusCreated:
			codes["created"]++
		default:
			wantError(t, status, body, http.StatusTooManyRequests, "rate_limited")
			codes["rate_limited"]++
			retry = h.Get("Retry-After")
		}
	}
	peak := stop()
	stored := e.countAccounts()
	t.Logf("500 registrations from one address: %v; %d accounts stored; Retry-After %s s; heap peak %.1f MiB; goroutines %d -> %d",
		codes, stored, retry, float64(peak)/(1<<20), g0, runtime.NumGoroutine())
	if codes["created"] != DefaultRegistrationsPerIP || stored != DefaultRegistrationsPerIP {
		t.Fatalf("%d registrations accepted, %d stored; want %d", codes["created"], stored, DefaultRegistrationsPerIP)
	}
	if retry != "120" {
		t.Fatalf("Retry-After %q, want 120 (one registration earned back every 2 minutes)", retry)
	}
	if peak > 64<<20 {
		t.Fatalf("heap peak %d bytes", peak)
	}

	// The address earns registrations back at the hourly rate.
	e.clock.Advance(2 * time.Minute)
	late := newUser(t, "late")
	if status, body, _ := e.post(late, e.registerReq(late, 0)); status != http.StatusCreated {
		t.Fatalf("after 2 minutes: %d %s", status, body)
	}
	again := newUser(t, "again")
	status, body, _ := e.post(again, e.registerReq(again, 0))
	wantError(t, status, body, http.StatusTooManyRequests, "rate_limited")
}

// TestSecurityActivationMailFloodThrottled is a security regression test
// (issue 9 item 6): 100 registrations naming one victim's address sent 100
// activation e-mails, each holding a username for the activation TTL.
// They come from 100 client addresses here, so only the per-address limit
// stands in the way: at most DefaultActivationMailsPerAddress e-mails go
// out (case and +tags do not make another address) and only as many
// usernames are held.
func TestSecurityActivationMailFloodThrottled(t *testing.T) {
	e := newMailEnv(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	addrs := []string{"victim@example.org", "Victim@Example.org", "victim+%d@example.org"}
	codes := map[string]int{}
	retry := ""
	for i := range 100 {
		u := newUser(t, fmt.Sprintf("mail%03d", i))
		req := e.registerReq(u, 0)
		req.Email = addrs[i%len(addrs)]
		if i%len(addrs) == 2 {
			req.Email = fmt.Sprintf(req.Email, i)
		}
		status, body, h := e.post(u, req, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
		switch status {
		case http.StatusCreated:
			codes["created"]++
		default:
			wantError(t, status, body, http.StatusTooManyRequests, "rate_limited")
			codes["rate_limited"]++
			retry = h.Get("Retry-After")
		}
	}
	sent, stored := len(e.smtp.got), e.countAccounts()
	t.Logf("100 registrations for one address: %v; %d e-mails sent; %d pending usernames; Retry-After %s s", codes, sent, stored, retry)
	if sent != DefaultActivationMailsPerAddress || stored != DefaultActivationMailsPerAddress {
		t.Fatalf("%d e-mails sent and %d usernames held, want %d", sent, stored, DefaultActivationMailsPerAddress)
	}
	if retry != strconv.Itoa(24*3600) {
		t.Fatalf("Retry-After %q, want a day", retry)
	}

	// A day later the pending names are gone and the address may get one
	// e-mail again.
	e.clock.Advance(24 * time.Hour)
	if err := e.dir.ExpirePending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := e.countAccounts(); n != 0 {
		t.Fatalf("%d accounts left after the purge", n)
	}
	e.registerPending("victim")
}

// TestActivationMailTokenGivenBackWhenNameTaken: a registration that
// fails before any e-mail goes out does not count against the address.
func TestActivationMailTokenGivenBackWhenNameTaken(t *testing.T) {
	e := newMailEnv(t, func(c *Config) { c.ActivationMailsPerAddress = 1 })
	e.register(newUser(t, "taken"), 0)
	u := newUser(t, "taken")
	req := e.registerReq(u, 0)
	req.Email = "carol@example.org"
	status, body, _ := e.post(u, req)
	wantError(t, status, body, http.StatusConflict, "username_taken")
	e.registerPending("carol")
}

func TestRegistrationLimitsCanBeTurnedOff(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RegistrationsPerIP = -1 })
	for i := range DefaultRegistrationsPerIP + 5 {
		e.register(newUser(t, fmt.Sprintf("user%02d", i)), 0)
	}
}

func TestClosedRegistrationRefused(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Registration = RegistrationClosed })
	u := newUser(t, "alice")
	status, body, _ := e.post(u, e.registerReq(u, 0))
	wantError(t, status, body, http.StatusForbidden, "registration_closed")
	if e.countAccounts() != 0 {
		t.Fatal("a closed server stored an account")
	}
}

func TestOpenRegistrationIgnoresInviteCode(t *testing.T) {
	e := newEnv(t)
	u := newUser(t, "alice")
	req := e.registerReq(u, 0)
	req.Invite = "no such code"
	if status, body, _ := e.post(u, req); status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
}

func TestBadPolicyRefused(t *testing.T) {
	if _, err := ParsePolicy("invite-only"); err == nil {
		t.Fatal("ParsePolicy accepted invite-only")
	}
	e := newEnv(t) // for its store and key
	if _, err := New(Config{Store: e.st, ServerKey: newUser(t, "server").id, Registration: "sometimes"}); err == nil {
		t.Fatal("New accepted an unknown policy")
	}
}

func TestClientAddr(t *testing.T) {
	proxies, err := ParseTrustedProxies([]string{"10.0.0.0/8", "::1", " "})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote, xff, want string
	}{
		{"203.0.113.7:5000", "", "203.0.113.7"},
		// An untrusted peer cannot name another address.
		{"203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
		{"10.1.2.3:443", "198.51.100.1", "198.51.100.1"},
		// The client's own entries before the last untrusted hop are not believed.
		{"10.1.2.3:443", "1.2.3.4, 198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"[::1]:443", "garbage, 198.51.100.2", "198.51.100.2"},
		{"10.1.2.3:443", "198.51.100.1, garbage", "10.1.2.3"},
		// One IPv6 client holds a /64.
		{"[2001:db8:1:2:aaaa::1]:5000", "", "2001:db8:1:2::/64"},
		{"[::ffff:203.0.113.9]:5000", "", "203.0.113.9"},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := addrKey(clientAddr(r, proxies)); got != tc.want {
			t.Errorf("%s with X-Forwarded-For %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
	if _, err := ParseTrustedProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad prefix was accepted")
	}
}

func TestMailKey(t *testing.T) {
	for in, want := range map[string]string{
		"Alice@Example.org":      "alice@example.org",
		"alice+hush@example.org": "alice@example.org",
		"+x@example.org":         "+x@example.org",
	} {
		if got := mailKey(in); got != want {
			t.Errorf("mailKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestThrottleTableBounded: the throttles never remember more than
// maxThrottleKeys keys; when full of keys that are still counting they
// refuse new ones rather than grow, and forget refilled ones.
func TestThrottleTableBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := newBucketLimiter(2, time.Hour)
	w := newWindowLimiter(2, time.Hour)
	for i := range maxThrottleKeys {
		k := strconv.Itoa(i)
		if ok, _ := b.take(k, now); !ok {
			t.Fatalf("bucket refused key %d", i)
		}
		if ok, _ := w.take(k, now); !ok {
			t.Fatalf("window refused key %d", i)
		}
	}
	if ok, _ := b.take("new", now); ok {
		t.Fatal("bucket grew past its bound")
	}
	if ok, _ := w.take("new", now); ok {
		t.Fatal("window grew past its bound")
	}
	now = now.Add(time.Hour)
	if ok, _ := b.take("new", now); !ok || len(b.m) != 1 {
		t.Fatalf("bucket did not forget refilled keys: %d left", len(b.m))
	}
	if ok, _ := w.take("new", now); !ok || len(w.m) != 1 {
		t.Fatalf("window did not forget expired keys: %d left", len(w.m))
	}
	// A refunded event leaves the window.
	w.take("k", now)
	w.refund("k", now)
	if _, ok := w.m["k"]; ok {
		t.Fatal("refund left an empty key")
	}
}
