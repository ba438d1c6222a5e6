package relay

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
)

// allowN charges n tokens at once: a fan-out pays per recipient. A charge
// over the burst is allowed from a full bucket and leaves it in debt, so
// the average rate stays bounded by the refill rate.
func TestBucketAllowN(t *testing.T) {
	clock := newTestClock()
	rt := rate{perSec: 1, burst: 10}
	b := newBucket(clock.Now(), rt)
	for i, step := range []struct {
		n    int
		want bool
	}{{4, true}, {4, true}, {4, false}, {2, true}, {1, false}} {
		if got := b.allowN(clock.Now(), rt, step.n); got != step.want {
			t.Fatalf("step %d: allowN(%d) = %v", i, step.n, got)
		}
	}
	clock.Add(3 * time.Second)
	if !b.allowN(clock.Now(), rt, 3) || b.allowN(clock.Now(), rt, 1) {
		t.Fatal("3 s refill: want exactly 3 tokens")
	}

	clock.Add(time.Hour) // full again
	if !b.allowN(clock.Now(), rt, 25) {
		t.Fatal("a charge over the burst from a full bucket is refused")
	}
	clock.Add(15 * time.Second) // pays the debt back to zero
	if b.allowN(clock.Now(), rt, 1) {
		t.Fatal("a send allowed while the bucket is in debt")
	}
	clock.Add(time.Second)
	if !b.allowN(clock.Now(), rt, 1) {
		t.Fatal("a send refused once the debt is paid")
	}
	if b.allowN(clock.Now(), rt, 25) {
		t.Fatal("a charge over the burst allowed from a bucket that is not full")
	}
}

// A send pays on its device's bucket and on its account's: the account
// bounds what all its devices send together, and a refusal by either
// costs the other nothing.
func TestSendLimiterChargesDeviceAndAccount(t *testing.T) {
	clock := newTestClock()
	s := newSendLimiter(Limits{RatePerSec: 1, Burst: 10, AccountRatePerSec: 1, AccountBurst: 15}.withDefaults())
	laptop := httpapi.Principal{Username: "ann", DeviceID: 1, Mailbox: "a1"}
	phone := httpapi.Principal{Username: "ann", DeviceID: 2, Mailbox: "a2"}
	other := httpapi.Principal{Username: "bob", DeviceID: 1, Mailbox: "b1"}
	if !s.allowN(laptop, clock.Now(), 8) || s.allowN(laptop, clock.Now(), 3) || !s.allowN(laptop, clock.Now(), 2) {
		t.Fatal("device bucket: want 8 + 2 of 10")
	}
	// The account has 5 left; the phone's own bucket is full.
	if s.allowN(phone, clock.Now(), 6) || !s.allowN(phone, clock.Now(), 5) || s.allowN(phone, clock.Now(), 1) {
		t.Fatal("account bucket: want 5 left for the second device")
	}
	if !s.allowN(other, clock.Now(), 10) {
		t.Fatal("another account is limited by ann's sends")
	}
}

// Security regression (issue 9, item 3): the devices of one account
// share the account's bucket over MQTT and HTTP alike.
func TestSecurityAccountRateLimitAcrossDevices(t *testing.T) {
	const burst, accountBurst = 10, 15
	e := newEnv(t, Limits{Burst: burst, RatePerSec: 1, AccountBurst: accountBurst, AccountRatePerSec: 1})
	laptop, bob := e.device(t, "ann"), e.device(t, "bob")
	phone := device{name: "ann", mailbox: randHex(16), token: randHex(32)}
	e.tokens.put(phone.token, httpapi.Principal{Username: "ann", DeviceID: 2, Mailbox: phone.mailbox}, time.Hour)

	cl := e.connect5(t, laptop, false)
	accepted := 0
	for range burst {
		if code, _ := cl.publish(proto.InboxTopic(bob.mailbox), sealed(200)); code < 0x80 {
			accepted++
		}
	}
	for range burst {
		st, _ := e.call(t, phone, "POST", "/v1/mailboxes/"+bob.mailbox+"/envelopes", "application/octet-stream", bytes.NewReader(sealed(200)), nil)
		if st == http.StatusAccepted {
			accepted++
		} else if st != http.StatusTooManyRequests {
			t.Fatalf("phone send: %d", st)
		}
	}
	t.Logf("two devices of one account, %d sends each, clock held: %d accepted (device burst %d, account burst %d)", burst, accepted, burst, accountBurst)
	if accepted != accountBurst {
		t.Fatalf("%d sends accepted across the account's devices, want the account burst %d", accepted, accountBurst)
	}
}

// The bucket maps hold only recently active keys: a stream of new
// devices, each idle after one send, does not grow them without bound,
// and a prune after they refilled empties them.
func TestLimiterMapStaysBounded(t *testing.T) {
	clock := newTestClock()
	l := newLimiterMap(rate{perSec: 1, burst: 1})
	peak := 0
	for i := range 100_000 {
		if !l.get("dev"+strconv.Itoa(i), clock.Now()).allowN(clock.Now(), l.rate, 1) {
			t.Fatal("a new device's first send refused")
		}
		if i%100 == 99 {
			clock.Add(time.Second) // the last 100 devices refill
			peak = max(peak, l.len())
		}
	}
	t.Logf("100,000 devices, 100 active per second: at most %d buckets held", peak)
	if bound := 2 * limiterShards * minPruneAt; peak > bound {
		t.Fatalf("%d buckets held, want at most %d", peak, bound)
	}
	clock.Add(time.Second)
	l.prune(clock.Now())
	if n := l.len(); n != 0 {
		t.Fatalf("%d buckets left after every device refilled", n)
	}
}

// Pruning while a device sends never hands it a second full bucket: with
// the clock held, the device gets exactly one burst in total.
func TestPruneDoesNotRefillABusyDevice(t *testing.T) {
	clock := newTestClock()
	s := newSendLimiter(Limits{RatePerSec: 1, Burst: 50}.withDefaults())
	p := httpapi.Principal{Username: "ann", Mailbox: "a1"}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				s.prune(clock.Now())
			}
		}
	}()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if s.allow(p, clock.Now()) {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if n := accepted.Load(); n != 50 {
		t.Fatalf("%d sends accepted with the clock held, want the burst 50", n)
	}
}

// The per-device and per-account lookup on every send is cheap and does
// not serialise senders on different devices.
func BenchmarkSendLimiterParallel(b *testing.B) {
	s := newSendLimiter(Limits{RatePerSec: 1e9, Burst: 1 << 30}.withDefaults())
	now := time.Unix(1_800_000_000, 0)
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1)
		p := httpapi.Principal{Username: "u" + strconv.FormatInt(i, 10), Mailbox: "m" + strconv.FormatInt(i, 10)}
		for pb.Next() {
			s.allow(p, now)
		}
	})
}
