package stream

import (
	"runtime"
	"sync"
)

// The io Reader and Writer keep a fixed number of chunks in flight in a
// pipeline: a ring of slots, consumed in order, whose chunks are sealed or
// opened by a pool of goroutines. Memory is bounded by the ring; goroutines
// exist only while there is work, so an abandoned Reader or Writer leaves
// none behind once its in-flight chunks are done.

// maxDepth caps the chunks in flight per Reader or Writer (8 MiB of
// buffers).
const maxDepth = 64

// slot is one chunk in flight. The goroutine that owns the pipeline fills
// in, index and last, hands the slot to the pool, and reads res and err
// only after receiving from done.
type slot struct {
	c       *Cipher
	encrypt bool
	index   uint64
	last    bool
	in      []byte // the input chunk
	out     []byte // buffer for the result
	res     []byte // the result, aliasing out
	err     error
	done    chan struct{} // capacity 1: signalled once per use
}

func (s *slot) run(n *[gcmNonceSize]byte) {
	if s.encrypt {
		s.res, s.err = s.c.seal(n, s.out[:0], s.index, s.last, s.in), nil
	} else {
		s.res, s.err = s.c.openChunk(n, s.out[:0], s.index, s.last, s.in)
	}
	s.done <- struct{}{}
}

// pool runs slots on up to max goroutines, started on demand. A goroutine
// exits when it finds the queue empty; since it checks under the same lock
// submit takes, a queued slot always has a goroutine to run it.
type pool struct {
	mu      sync.Mutex
	queue   []*slot // ring of len(queue) entries, the pipeline depth
	head    int
	n       int
	running int
	max     int
}

func (p *pool) submit(s *slot) {
	p.mu.Lock()
	p.queue[(p.head+p.n)%len(p.queue)] = s
	p.n++
	start := p.running < p.max
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.work()
	}
}

func (p *pool) work() {
	var nonce [gcmNonceSize]byte
	for {
		p.mu.Lock()
		if p.n == 0 {
			p.running--
			p.mu.Unlock()
			return
		}
		s := p.dequeue()
		p.mu.Unlock()
		s.run(&nonce)
	}
}

// take removes the oldest queued slot, or returns nil if none is queued,
// so that a goroutine about to wait can do the work itself.
func (p *pool) take() *slot {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return nil
	}
	return p.dequeue()
}

// dequeue must be called with p.mu held and p.n > 0.
func (p *pool) dequeue() *slot {
	s := p.queue[p.head]
	p.queue[p.head] = nil
	p.head = (p.head + 1) % len(p.queue)
	p.n--
	return s
}

// pipeline is the ring of slots owned by one Reader or Writer goroutine:
// slots head to head+n-1 are in flight, in stream order.
type pipeline struct {
	c      *Cipher
	pool   pool
	slots  []*slot
	head   int
	n      int
	inCap  int
	outCap int
	nonce  [gcmNonceSize]byte // for chunks run by the owner in pop
}

func newPipeline(c *Cipher, inCap, outCap int) *pipeline {
	workers := runtime.GOMAXPROCS(0)
	// Four chunks per worker keep every core busy while the owner copies
	// data in or out; the cap bounds memory on large machines.
	depth := min(max(4*workers, 4), maxDepth)
	return &pipeline{
		c:      c,
		pool:   pool{queue: make([]*slot, depth), max: workers},
		slots:  make([]*slot, depth),
		inCap:  inCap,
		outCap: outCap,
	}
}

func (q *pipeline) full() bool  { return q.n == len(q.slots) }
func (q *pipeline) empty() bool { return q.n == 0 }

// free returns the slot after the in-flight ones; the pipeline must not be
// full. Buffers are allocated on first use, so a small file costs one slot.
func (q *pipeline) free() *slot {
	i := (q.head + q.n) % len(q.slots)
	if q.slots[i] == nil {
		q.slots[i] = &slot{
			c:    q.c,
			in:   make([]byte, 0, q.inCap),
			out:  make([]byte, 0, q.outCap),
			done: make(chan struct{}, 1),
		}
	}
	return q.slots[i]
}

// push puts the free slot in flight. If s.err is already set (a fault
// found before any crypto) the slot completes at once, in order.
func (q *pipeline) push(s *slot) {
	q.n++
	if s.err != nil {
		s.res = nil
		s.done <- struct{}{}
		return
	}
	q.pool.submit(s)
}

// pop returns the oldest slot in flight once it is done, or nil if wait is
// false and it is not done yet. The slot stays valid until the next push
// reuses it.
func (q *pipeline) pop(wait bool) *slot {
	s := q.slots[q.head]
	for done := false; !done; {
		select {
		case <-s.done:
			done = true
		default:
			if !wait {
				return nil
			}
			// Rather than sleep, run queued chunks (most likely s
			// itself) on this goroutine.
			if t := q.pool.take(); t != nil {
				t.run(&q.nonce)
			} else {
				<-s.done
				done = true
			}
		}
	}
	q.head = (q.head + 1) % len(q.slots)
	q.n--
	return s
}
