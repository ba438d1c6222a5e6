package ratchet

import (
	"encoding/binary"
	"slices"
)

// skipID names a skipped message key: the sender's ratchet public key and
// the message number in that key's chain.
type skipID struct {
	pub [keySize]byte
	n   uint32
}

type skipEntry struct {
	mk  [keySize]byte
	seq uint64 // insertion number; matches exactly one slot in order
}

type skipSlot struct {
	id  skipID
	seq uint64
}

// skippedKey is a key derived for a message not yet received.
type skippedKey struct {
	id skipID
	mk [keySize]byte
}

// skippedStore holds at most MaxStoredSkipped message keys and evicts the
// oldest first. Lookups go through a map; order keeps insertion (FIFO)
// order. Removing a key from the middle leaves a stale slot in order (its
// seq no longer matches the map), which eviction and serialization skip and
// compact drops, so a removal costs O(1) amortised instead of a slice shift.
type skippedStore struct {
	keys  map[skipID]skipEntry
	order []skipSlot
	seq   uint64
}

func (st *skippedStore) len() int { return len(st.keys) }

func (st *skippedStore) get(id skipID) ([keySize]byte, bool) {
	e, ok := st.keys[id]
	return e.mk, ok
}

// remove deletes the key for id. Overwriting before the delete is a best
// effort wipe: Go gives no guarantee about map memory.
func (st *skippedStore) remove(id skipID) {
	if _, ok := st.keys[id]; !ok {
		return
	}
	st.keys[id] = skipEntry{}
	delete(st.keys, id)
	st.compact()
}

// push appends k as the newest key, replacing any key stored under the same
// id (its old slot goes stale), and evicts the oldest keys beyond
// MaxStoredSkipped.
func (st *skippedStore) push(k *skippedKey) {
	if st.keys == nil {
		st.keys = make(map[skipID]skipEntry)
	}
	st.seq++
	st.keys[k.id] = skipEntry{mk: k.mk, seq: st.seq}
	st.order = append(st.order, skipSlot{id: k.id, seq: st.seq})
	for len(st.keys) > MaxStoredSkipped {
		st.evictOldest()
	}
	st.compact()
}

func (st *skippedStore) live(s skipSlot) bool {
	e, ok := st.keys[s.id]
	return ok && e.seq == s.seq
}

func (st *skippedStore) evictOldest() {
	for len(st.order) > 0 {
		s := st.order[0]
		st.order = st.order[1:]
		if st.live(s) {
			st.keys[s.id] = skipEntry{}
			delete(st.keys, s.id)
			return
		}
	}
}

// compact drops stale slots once they outnumber the live ones, bounding
// order at about twice MaxStoredSkipped.
func (st *skippedStore) compact() {
	if len(st.order) <= 2*len(st.keys)+64 {
		return
	}
	fresh := make([]skipSlot, 0, len(st.keys)+64)
	for _, s := range st.order {
		if st.live(s) {
			fresh = append(fresh, s)
		}
	}
	st.order = fresh
}

// each calls fn for every stored key, oldest first.
func (st *skippedStore) each(fn func(id skipID, mk *[keySize]byte)) {
	for _, s := range st.order {
		if e, ok := st.keys[s.id]; ok && e.seq == s.seq {
			fn(s.id, &e.mk)
		}
	}
}

func (st *skippedStore) clone() skippedStore {
	c := skippedStore{seq: st.seq}
	if st.keys != nil {
		c.keys = make(map[skipID]skipEntry, len(st.keys))
		for id, e := range st.keys {
			c.keys[id] = e
		}
	}
	c.order = slices.Clone(st.order)
	return c
}

// pastChain remembers a retired receiving chain: the sender's ratchet public
// key and end, the number of message keys that chain ever produced. A
// message in it below end was delivered (or its key is stored or was
// evicted); one at or above end was never sent.
type pastChain struct {
	pub [keySize]byte
	end uint32
}

// pastChains lists the last MaxPastChains retired receiving chains, oldest
// first, in their stored encoding (pub || u32(end) each, SPEC §5.9): a
// State loads and stores them with one copy, not one per chain. It lets
// Decrypt answer ErrReplay, rather than attempting a DH step, for an old
// message whose key is gone. A pastChains is never written in place (push
// builds a new one), so a loaded State may share it with its encoding.
type pastChains []byte

func (p pastChains) len() int { return len(p) / pastLen }

func (p pastChains) at(i int) pastChain {
	e := p[i*pastLen : (i+1)*pastLen]
	return pastChain{pub: [keySize]byte(e), end: binary.BigEndian.Uint32(e[keySize:])}
}

// pub returns the key of chain i, in place.
func (p pastChains) pub(i int) *[keySize]byte {
	return (*[keySize]byte)(p[i*pastLen:])
}

// push returns the list with c appended, the oldest dropped beyond
// MaxPastChains.
func (p pastChains) push(c pastChain) pastChains {
	keep := p[max(0, len(p)-(MaxPastChains-1)*pastLen):]
	n := make(pastChains, len(keep)+pastLen)
	copy(n, keep)
	e := n[len(keep):]
	copy(e, c.pub[:])
	binary.BigEndian.PutUint32(e[keySize:], c.end)
	return n
}

func (p pastChains) find(pub *[keySize]byte) (pastChain, bool) {
	for i := p.len() - 1; i >= 0; i-- {
		if *p.pub(i) == *pub {
			return p.at(i), true
		}
	}
	return pastChain{}, false
}
