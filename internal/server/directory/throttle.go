package directory

import (
	"sync"
	"time"
)

// maxThrottleKeys bounds the keys (client addresses, e-mail addresses) a
// throttle remembers. Only a key that passed the checks before it costs an
// entry, and an idle key is forgotten; when the table is still full the
// throttle refuses new keys rather than grow (it fails closed).
const maxThrottleKeys = 1 << 16

// bucketLimiter is a token bucket per key on the directory's injected
// clock: up to burst at once, refilled at burst per period. It is safe for
// concurrent use.
type bucketLimiter struct {
	burst  float64
	refill time.Duration // time to earn one token back
	mu     sync.Mutex
	m      map[string]*bucketState // guarded by mu
}

type bucketState struct {
	tokens float64
	last   time.Time
}

func newBucketLimiter(burst int, period time.Duration) *bucketLimiter {
	return &bucketLimiter{burst: float64(burst), refill: period / time.Duration(burst), m: map[string]*bucketState{}}
}

// take spends one token of key at now. When none is left it returns false
// and how long until one is.
func (l *bucketLimiter) take(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= maxThrottleKeys && !l.pruneLocked(now) {
			return false, l.refill
		}
		b = &bucketState{tokens: l.burst, last: now}
		l.m[key] = b
	}
	l.fillLocked(b, now)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.refill))
	}
	b.tokens--
	return true, 0
}

// refund gives back a token taken for an attempt that stored nothing.
func (l *bucketLimiter) refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.m[key]; b != nil {
		b.tokens = min(b.tokens+1, l.burst)
	}
}

func (l *bucketLimiter) fillLocked(b *bucketState, now time.Time) {
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(l.burst, b.tokens+float64(dt)/float64(l.refill))
		b.last = now
	}
}

// pruneLocked forgets the buckets that have refilled (a full bucket is
// what a new key gets anyway) and reports whether there is room now.
func (l *bucketLimiter) pruneLocked(now time.Time) bool {
	for k, b := range l.m {
		if l.fillLocked(b, now); b.tokens >= l.burst {
			delete(l.m, k)
		}
	}
	return len(l.m) < maxThrottleKeys
}

// windowLimiter allows at most limit events per key within any window
// (a sliding log): unlike a bucket, it bounds exactly how many events one
// key has in flight within the window. It is safe for concurrent use.
type windowLimiter struct {
	limit  int
	window time.Duration
	mu     sync.Mutex
	m      map[string][]time.Time // guarded by mu; each key's events, oldest first
}

func newWindowLimiter(limit int, window time.Duration) *windowLimiter {
	return &windowLimiter{limit: limit, window: window, m: map[string][]time.Time{}}
}

// take records an event of key at now, or returns false and how long
// until the oldest event leaves the window.
func (l *windowLimiter) take(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev, ok := l.m[key]
	if !ok && len(l.m) >= maxThrottleKeys && !l.pruneLocked(now) {
		return false, l.window
	}
	ev = l.expire(ev, now)
	if len(ev) >= l.limit {
		l.m[key] = ev
		return false, ev[0].Add(l.window).Sub(now)
	}
	l.m[key] = append(ev, now)
	return true, 0
}

// refund forgets the event of key recorded at at (its e-mail was never
// sent).
func (l *windowLimiter) refund(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.m[key]
	for i := len(ev) - 1; i >= 0; i-- {
		if ev[i].Equal(at) {
			l.m[key] = append(ev[:i:i], ev[i+1:]...)
			break
		}
	}
	if len(l.m[key]) == 0 {
		delete(l.m, key)
	}
}

// expire drops the events that left the window.
func (l *windowLimiter) expire(ev []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ev) && !ev[i].Add(l.window).After(now) {
		i++
	}
	return ev[i:]
}

func (l *windowLimiter) pruneLocked(now time.Time) bool {
	for k, ev := range l.m {
		if len(l.expire(ev, now)) == 0 {
			delete(l.m, k)
		}
	}
	return len(l.m) < maxThrottleKeys
}
