package relay

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/hush-chat/hush/internal/server/httpapi"
)

// rate is one token bucket's refill rate and size.
type rate struct {
	perSec float64
	burst  int
}

// bucket is a token bucket on the relay's injected clock (so tests can
// hold time still or move it).
type bucket struct {
	mu     sync.Mutex
	tokens float64 // below zero after a charge larger than the burst
	last   time.Time
	gone   bool // pruned from its map: look the key up again
}

func newBucket(now time.Time, rt rate) *bucket {
	return &bucket{tokens: float64(rt.burst), last: now}
}

// refill adds the tokens earned since the last call. b.mu is held.
func (b *bucket) refill(now time.Time, rt rate) {
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(float64(rt.burst), b.tokens+dt.Seconds()*rt.perSec)
		b.last = now
	}
}

// can reports whether n tokens may be taken now. b.mu is held.
//
// A charge larger than the burst could never be paid in full: it is
// allowed from a full bucket and leaves it in debt, so the sender waits
// as long as the charge costs before sending again and the average rate
// stays bounded by the refill rate.
func (b *bucket) can(n int, rt rate) bool {
	return b.tokens >= float64(min(n, rt.burst))
}

// allowN takes n (≥ 1) tokens if it can (see can), and reports whether it
// did.
func (b *bucket) allowN(now time.Time, rt rate, n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now, rt)
	if !b.can(n, rt) {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// wait is how long until n tokens may be taken (see can). b.mu is held.
func (b *bucket) wait(n int, rt rate) time.Duration {
	short := float64(min(n, rt.burst)) - b.tokens
	if short <= 0 || rt.perSec <= 0 {
		return 0
	}
	return time.Duration(short / rt.perSec * float64(time.Second))
}

// full reports whether the bucket has refilled completely: forgetting it
// then changes nothing. b.mu is held.
func (b *bucket) full(now time.Time, rt rate) bool {
	return b.tokens+now.Sub(b.last).Seconds()*rt.perSec >= float64(rt.burst)
}

// limiterShards spreads the buckets of a limiterMap over independently
// locked maps, so that senders on different devices rarely wait for each
// other.
const limiterShards = 64

// minPruneAt is the size a shard grows to before an insertion prunes it.
const minPruneAt = 64

// limiterMap holds one bucket per key (a device's mailbox, an account's
// username). It holds only the buckets of keys active in the last
// burst/rate seconds, give or take a factor of two: a shard that has
// doubled since it was last pruned is pruned on the next insertion, and
// ExpireOld prunes every shard.
type limiterMap struct {
	rate   rate
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	m       map[string]*bucket
	pruneAt int // prune on insertion once len(m) reaches it
}

func newLimiterMap(rt rate) *limiterMap {
	l := &limiterMap{rate: rt, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i] = limiterShard{m: map[string]*bucket{}, pruneAt: minPruneAt}
	}
	return l
}

// get returns key's bucket, creating a full one.
func (l *limiterMap) get(key string, now time.Time) *bucket {
	s := &l.shards[maphash.String(l.seed, key)%limiterShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.m[key]; b != nil {
		return b
	}
	if len(s.m) >= s.pruneAt {
		s.prune(now, l.rate)
		s.pruneAt = max(minPruneAt, 2*len(s.m))
	}
	b := newBucket(now, l.rate)
	s.m[key] = b
	return b
}

// prune forgets the buckets that have refilled. s.mu is held.
func (s *limiterShard) prune(now time.Time, rt rate) {
	for k, b := range s.m {
		b.mu.Lock()
		if b.full(now, rt) {
			b.gone = true // a holder of b looks the key up again
			delete(s.m, k)
		}
		b.mu.Unlock()
	}
}

func (l *limiterMap) prune(now time.Time) {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		s.prune(now, l.rate)
		s.pruneAt = max(minPruneAt, 2*len(s.m))
		s.mu.Unlock()
	}
}

func (l *limiterMap) len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// sendLimiter charges every send to two token buckets: the sending
// device's, shared by all its MQTT connections and its HTTP requests, and
// its account's, shared by all the account's devices. A send passes only
// if both have the tokens, and then both pay.
//
// Locks: a shard lock is never held while a bucket is being charged, and
// a charge locks the device bucket before the account bucket; pruning
// locks a shard, then one bucket at a time.
type sendLimiter struct {
	devices, accounts *limiterMap
}

func newSendLimiter(lim Limits) *sendLimiter {
	return &sendLimiter{
		devices:  newLimiterMap(rate{lim.RatePerSec, lim.Burst}),
		accounts: newLimiterMap(rate{lim.AccountRatePerSec, lim.AccountBurst}),
	}
}

// allowN charges n envelopes (a fan-out is charged per recipient) sent by
// device p, and reports whether they may go.
func (s *sendLimiter) allowN(p httpapi.Principal, now time.Time, n int) bool {
	ok, _ := s.charge(p, now, n)
	return ok
}

// charge is allowN that also says, when the envelopes may not go, how long
// until both buckets hold enough for them (a Retry-After).
func (s *sendLimiter) charge(p httpapi.Principal, now time.Time, n int) (bool, time.Duration) {
	if n < 1 {
		n = 1
	}
	for {
		d, a := s.devices.get(p.Mailbox, now), s.accounts.get(p.Username, now)
		d.mu.Lock()
		a.mu.Lock()
		if d.gone || a.gone {
			// Pruned between get and here: charge the bucket that
			// replaced it.
			a.mu.Unlock()
			d.mu.Unlock()
			continue
		}
		dr, ar := s.devices.rate, s.accounts.rate
		d.refill(now, dr)
		a.refill(now, ar)
		ok := d.can(n, dr) && a.can(n, ar)
		var wait time.Duration
		if ok {
			d.tokens -= float64(n)
			a.tokens -= float64(n)
		} else {
			wait = max(d.wait(n, dr), a.wait(n, ar))
		}
		a.mu.Unlock()
		d.mu.Unlock()
		return ok, wait
	}
}

// allow charges one envelope.
func (s *sendLimiter) allow(p httpapi.Principal, now time.Time) bool {
	return s.allowN(p, now, 1)
}

// prune forgets the buckets that have refilled.
func (s *sendLimiter) prune(now time.Time) {
	s.devices.prune(now)
	s.accounts.prune(now)
}
