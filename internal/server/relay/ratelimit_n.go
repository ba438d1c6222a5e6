package relay

import (
	"math"
	"time"
)

// takeN takes n tokens if there are n. Otherwise it takes none and
// reports how long the bucket needs to hold n (n is at most lim.Burst).
func (b *bucket) takeN(now time.Time, lim Limits, n int) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(float64(lim.Burst), b.tokens+dt.Seconds()*lim.RatePerSec)
		b.last = now
	}
	if b.tokens < float64(n) {
		return false, time.Duration((float64(n) - b.tokens) / lim.RatePerSec * float64(time.Second))
	}
	b.tokens -= float64(n)
	return true, 0
}

// allowN is allow for a send that costs n tokens: a fan-out to n
// mailboxes.
func (l *limiterMap) allowN(key string, n int, now time.Time, lim Limits) (bool, time.Duration) {
	l.mu.Lock()
	b, ok := l.m[key]
	if !ok {
		b = newBucket(now, lim)
		l.m[key] = b
	}
	l.mu.Unlock()
	return b.takeN(now, lim, n)
}

// retryAfterSeconds is a wait as a Retry-After value: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
