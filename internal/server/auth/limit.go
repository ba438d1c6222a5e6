package auth

import (
	"math"
	"sync"
	"time"
)

// Limits bound what strangers can make the service do: a challenge is
// unauthenticated and costs an ML-KEM encapsulation and a database row.
// Zero fields take the defaults.
type Limits struct {
	// AddrRate and AddrBurst bound the challenges one client address
	// (an IPv4 address or an IPv6 /64) may request, per second and in a
	// burst, whatever device they are for.
	AddrRate  float64
	AddrBurst int
	// DeviceRate and DeviceBurst bound the challenges one client address
	// may request for one device. The bucket is per address and device,
	// not per device alone: a stranger who spent a device-wide allowance
	// would lock the real device out of logging in.
	DeviceRate  float64
	DeviceBurst int
	// MaxOutstanding is how many unanswered challenges a device may have;
	// a new one replaces the oldest. Refusing new ones instead would let a
	// stranger keep the device locked out with MaxOutstanding requests per
	// challenge lifetime; replacing means he must outpace the device's own
	// challenge-answer round trip, which the rate limits forbid.
	MaxOutstanding int
}

// Default limits: a whole office behind one address can log in at once
// (and `hush bench relay` logs in 100 devices from loopback), while one
// address costs the server at most a few encapsulations and row writes a
// second.
const (
	DefaultAddrRate       = 5
	DefaultAddrBurst      = 200
	DefaultDeviceRate     = 1.0 / 6 // 10 a minute
	DefaultDeviceBurst    = 10
	DefaultMaxOutstanding = 4
)

func (l Limits) withDefaults() Limits {
	if l.AddrRate <= 0 {
		l.AddrRate = DefaultAddrRate
	}
	if l.AddrBurst <= 0 {
		l.AddrBurst = DefaultAddrBurst
	}
	if l.DeviceRate <= 0 {
		l.DeviceRate = DefaultDeviceRate
	}
	if l.DeviceBurst <= 0 {
		l.DeviceBurst = DefaultDeviceBurst
	}
	if l.MaxOutstanding <= 0 {
		l.MaxOutstanding = DefaultMaxOutstanding
	}
	return l
}

// bucket is a token bucket on the service's injected clock.
type bucket struct {
	tokens float64
	last   time.Time
}

// limiter holds one token bucket per key. Buckets that have refilled are
// forgotten (they would change nothing), checked whenever the map has
// doubled since the last sweep, so memory follows the keys active in the
// last Burst/Rate seconds. Safe for concurrent use.
type limiter struct {
	rate  float64
	burst float64

	mu        sync.Mutex
	m         map[string]*bucket // guarded by mu
	nextSweep int                // guarded by mu
}

const minSweep = 1024

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), m: map[string]*bucket{}, nextSweep: minSweep}
}

// allow takes a token for key at now. When there is none it returns how
// long until there will be one.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.nextSweep {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.m[key] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		wait := time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
		return false, wait
	}
	b.tokens--
	return true, 0
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt.Seconds()*l.rate)
		b.last = now
	}
}

func (l *limiter) sweep(now time.Time) {
	for k, b := range l.m {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(l.m, k)
		}
	}
	l.nextSweep = max(minSweep, 2*len(l.m))
}

// size is how many keys are held.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
