package relay

import (
	"sync"
	"time"
)

// bucket is a token bucket on the relay's injected clock (so tests can
// hold time still or move it).
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(now time.Time, lim Limits) *bucket {
	return &bucket{tokens: float64(lim.Burst), last: now}
}

// allow takes one token if there is one.
func (b *bucket) allow(now time.Time, lim Limits) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(float64(lim.Burst), b.tokens+dt.Seconds()*lim.RatePerSec)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether the bucket has refilled completely: forgetting it
// then changes nothing.
func (b *bucket) full(now time.Time, lim Limits) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokens+now.Sub(b.last).Seconds()*lim.RatePerSec >= float64(lim.Burst)
}

// limiterMap holds one bucket per device for the HTTP API, where there is
// no connection to hang it on.
type limiterMap struct {
	mu sync.Mutex
	m  map[string]*bucket
}

func newLimiterMap() *limiterMap { return &limiterMap{m: map[string]*bucket{}} }

func (l *limiterMap) allow(key string, now time.Time, lim Limits) bool {
	l.mu.Lock()
	b, ok := l.m[key]
	if !ok {
		b = newBucket(now, lim)
		l.m[key] = b
	}
	l.mu.Unlock()
	return b.allow(now, lim)
}

// prune forgets buckets that have refilled, bounding the map by the
// devices active in the last Burst/RatePerSec seconds.
func (l *limiterMap) prune(now time.Time, lim Limits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.m {
		if b.full(now, lim) {
			delete(l.m, k)
		}
	}
}
