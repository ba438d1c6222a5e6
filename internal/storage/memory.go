package storage

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync"
)

// Memory returns an empty in-memory backend. It is safe for concurrent
// use: Updates run one at a time, Views read the snapshot committed when
// they began and never wait for a writer.
//
// Nothing is durable: what a Memory holds is gone when the process ends,
// so a client on it loses its identity, sessions and everything it
// received since it started. Use it for tests, short-lived bots, and
// WebAssembly until a browser backend exists.
func Memory() Backend {
	return &memory{state: map[string]*node{}}
}

type memory struct {
	wmu sync.Mutex // held by the one running Update

	mu     sync.Mutex       // guards state and closed
	state  map[string]*node // committed; never mutated, only replaced
	closed bool
}

func (m *memory) snapshot() (map[string]*node, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	return m.state, nil
}

func (m *memory) View(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := m.snapshot()
	if err != nil {
		return err
	}
	tx := &memTx{tables: st, readOnly: true}
	defer func() { tx.done = true }()
	return fn(tx)
}

func (m *memory) Update(ctx context.Context, fn func(Tx) error) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := m.snapshot()
	if err != nil {
		return err
	}
	tx := &memTx{tables: st}
	defer func() { tx.done = true }()
	if err := fn(tx); err != nil {
		return err
	}
	if !tx.copied {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.state = tx.tables
	return nil
}

func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.state = nil
	return nil
}

type memTx struct {
	tables   map[string]*node
	copied   bool // tables is this transaction's own map
	readOnly bool
	done     bool
}

func (tx *memTx) check(write bool) error {
	if tx.done {
		return ErrTxDone
	}
	if write && tx.readOnly {
		return ErrReadOnly
	}
	return nil
}

func (tx *memTx) set(table string, root *node) {
	if !tx.copied {
		t := make(map[string]*node, len(tx.tables)+1)
		for k, v := range tx.tables {
			t[k] = v
		}
		tx.tables, tx.copied = t, true
	}
	tx.tables[table] = root
}

func (tx *memTx) Get(table string, key []byte) ([]byte, bool, error) {
	if err := tx.check(false); err != nil {
		return nil, false, err
	}
	for n := tx.tables[table]; n != nil; {
		switch c := bytes.Compare(key, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n.val, true, nil
		}
	}
	return nil, false, nil
}

func (tx *memTx) Put(table string, key, value []byte) error {
	if err := tx.check(true); err != nil {
		return err
	}
	if len(key) == 0 {
		return errEmptyKey
	}
	n := &node{key: bytes.Clone(key), val: append([]byte{}, value...), prio: rand.Uint64()}
	tx.set(table, insert(tx.tables[table], n))
	return nil
}

func (tx *memTx) Delete(table string, key []byte) error {
	if err := tx.check(true); err != nil {
		return err
	}
	root := tx.tables[table]
	if nr, found := remove(root, key); found {
		tx.set(table, nr)
	}
	return nil
}

func (tx *memTx) Scan(table string, from, to []byte, reverse bool, fn func(k, v []byte) error) error {
	if err := tx.check(false); err != nil {
		return err
	}
	// The scan walks the tree as it is now; writes fn makes build new
	// nodes and leave this one as it was.
	return walk(tx.tables[table], from, to, reverse, fn)
}

// node is a node of a persistent treap: a binary search tree by key and
// a heap by prio. Nodes are never changed once they are reachable from a
// committed or snapshot root; a write copies the path it changes.
type node struct {
	key, val    []byte
	prio        uint64
	left, right *node
}

func (n *node) with(left, right *node) *node {
	c := *n
	c.left, c.right = left, right
	return &c
}

// insert returns the tree t with nn in it, replacing the node of the same
// key (nn keeps that node's place and priority).
func insert(t, nn *node) *node {
	if t == nil {
		return nn
	}
	switch c := bytes.Compare(nn.key, t.key); {
	case c == 0:
		r := *nn
		r.prio, r.left, r.right = t.prio, t.left, t.right
		return &r
	case c < 0:
		l := insert(t.left, nn)
		if l.prio > t.prio { // rotate right
			return l.with(l.left, t.with(l.right, t.right))
		}
		return t.with(l, t.right)
	default:
		r := insert(t.right, nn)
		if r.prio > t.prio { // rotate left
			return r.with(t.with(t.left, r.left), r.right)
		}
		return t.with(t.left, r)
	}
}

// remove returns t without key, and whether key was there.
func remove(t *node, key []byte) (*node, bool) {
	if t == nil {
		return nil, false
	}
	switch c := bytes.Compare(key, t.key); {
	case c == 0:
		return merge(t.left, t.right), true
	case c < 0:
		l, ok := remove(t.left, key)
		if !ok {
			return t, false
		}
		return t.with(l, t.right), true
	default:
		r, ok := remove(t.right, key)
		if !ok {
			return t, false
		}
		return t.with(t.left, r), true
	}
}

// merge joins two treaps whose keys are all of a below all of b.
func merge(a, b *node) *node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		return a.with(a.left, merge(a.right, b))
	default:
		return b.with(merge(a, b.left), b.right)
	}
}

// walk calls fn in order for the nodes of t with from <= key < to.
func walk(t *node, from, to []byte, reverse bool, fn func(k, v []byte) error) error {
	if t == nil {
		return nil
	}
	aboveFrom := from == nil || bytes.Compare(t.key, from) >= 0
	belowTo := to == nil || bytes.Compare(t.key, to) < 0
	first, second := t.left, t.right
	goFirst, goSecond := aboveFrom, belowTo // left has smaller keys: worth visiting if t.key > from
	if reverse {
		first, second = t.right, t.left
		goFirst, goSecond = belowTo, aboveFrom
	}
	if goFirst {
		if err := walk(first, from, to, reverse, fn); err != nil {
			return err
		}
	}
	if aboveFrom && belowTo {
		if err := fn(t.key, t.val); err != nil {
			return err
		}
	}
	if goSecond {
		return walk(second, from, to, reverse, fn)
	}
	return nil
}
