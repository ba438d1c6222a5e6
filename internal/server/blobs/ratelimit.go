package blobs

import (
	"math"
	"sync"
	"time"
)

// uploadLimiter holds one token bucket of bytes per account: every chunk
// upload of the account, from any of its devices, draws its length from
// it. It is safe for concurrent use.
//
// Its memory follows the accounts that uploaded recently: a bucket that
// has refilled completely is the same as no bucket, so such buckets are
// dropped whenever the map has doubled since the last sweep.
type uploadLimiter struct {
	rate  float64 // bytes per second
	burst float64 // bucket capacity, at least one chunk
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*byteBucket // guarded by mu
	sweepAt int                    // guarded by mu; sweep when len(buckets) reaches it
}

type byteBucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// minSweep is the map size below which no sweep runs.
const minSweep = 1024

func newUploadLimiter(rate, burst int64, now func() time.Time) *uploadLimiter {
	return &uploadLimiter{rate: float64(rate), burst: float64(burst), now: now,
		buckets: make(map[string]*byteBucket), sweepAt: minSweep}
}

// take draws n bytes from account's bucket. When the bucket holds fewer,
// it takes nothing and returns how long until it holds n: the caller
// refuses the upload and tells the client to wait that long.
func (l *uploadLimiter) take(account string, n int64) (ok bool, wait time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[account]
	if b == nil {
		if len(l.buckets) >= l.sweepAt {
			l.sweep(now)
		}
		b = &byteBucket{tokens: l.burst, at: now}
		l.buckets[account] = b
	}
	l.refill(b, now)
	if need := float64(n); b.tokens < need {
		secs := (need - b.tokens) / l.rate
		return false, time.Duration(math.Ceil(secs * float64(time.Second)))
	}
	b.tokens -= float64(n)
	return true, 0
}

// refill adds what the rate gave since b was last computed. A clock that
// went backwards adds nothing.
func (l *uploadLimiter) refill(b *byteBucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.at = now
	}
}

// sweep drops the buckets that are full again. Called with mu held.
func (l *uploadLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	l.sweepAt = max(minSweep, 2*len(l.buckets))
}

// len is the number of buckets held (for tests).
func (l *uploadLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
