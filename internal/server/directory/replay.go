package directory

import (
	"sync"
	"time"
)

// maxReplayEntries bounds the replay guard's memory (about 5 MiB).
const maxReplayEntries = 1 << 16

// replayGuard remembers the signed requests accepted within the last
// window so that one captured within its validity (MaxClockSkew either side
// of its timestamp) cannot be applied a second time. Only requests whose
// signature verified are recorded, so filling it costs an attacker a key
// and a signature per entry; when full, the oldest entry is forgotten.
//
// It lives in memory: several server instances side by side each keep their
// own (a shared store-backed guard is future work). It is safe for
// concurrent use.
type replayGuard struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	seen   map[[32]byte]struct{}
	order  []replayEntry // insertion order, oldest first
}

type replayEntry struct {
	id [32]byte
	at time.Time
}

func newReplayGuard(window time.Duration, max int) *replayGuard {
	return &replayGuard{window: window, max: max, seen: make(map[[32]byte]struct{})}
}

// firstUse records id at now and reports whether it was not seen within
// the window.
func (g *replayGuard) firstUse(id [32]byte, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.order) > 0 && (len(g.order) >= g.max || now.Sub(g.order[0].at) > g.window) {
		delete(g.seen, g.order[0].id)
		g.order[0] = replayEntry{}
		g.order = g.order[1:]
	}
	if _, dup := g.seen[id]; dup {
		return false
	}
	g.seen[id] = struct{}{}
	g.order = append(g.order, replayEntry{id: id, at: now})
	return true
}
