package directory

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hush-chat/hush/internal/server/httpapi"
)

// limiter holds a token bucket per requesting account, on the directory's
// clock (so tests hold time still or move it). It lives in memory: each
// server instance limits on its own. It is safe for concurrent use.
type limiter struct {
	rate  float64
	burst float64

	mu sync.Mutex // guards m
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), m: map[string]*bucket{}}
}

// allow takes a token from key's bucket; when there is none it returns
// how long until there is one.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.m[key] = b
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false, time.Duration(math.Ceil((1-b.tokens)/l.rate*1e9)) * time.Nanosecond
	}
	b.tokens--
	return true, 0
}

// prune forgets the buckets that have refilled: forgetting them changes
// nothing, and the map stays bounded by the accounts active lately.
func (l *limiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.m {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.m, k)
		}
	}
}

// retryLaterError is an API error whose answer tells the client when to
// try again (Retry-After, in whole seconds, at least 1).
type retryLaterError struct {
	err   *httpapi.Error
	after time.Duration
}

func (e *retryLaterError) Error() string { return e.err.Error() }
func (e *retryLaterError) Unwrap() error { return e.err }

func retryAfter(after time.Duration, e *httpapi.Error) error {
	return &retryLaterError{err: e, after: after}
}

// setRetryAfter sets the Retry-After header of an answer to err.
func setRetryAfter(w http.ResponseWriter, err error) {
	var rl *retryLaterError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(rl.after.Seconds())))))
	}
}
