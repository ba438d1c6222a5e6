package group

// skipID names a skipped message key: the chain and the iteration.
type skipID struct {
	chain     chainID
	iteration uint32
}

type skippedKey struct {
	id skipID
	mk [keySize]byte
}

// skippedStore holds at most MaxStoredSkipped message keys, evicting the
// oldest first. order keeps insertion order; a key removed out of order
// leaves a stale id in order, skipped by eviction and dropped by compact.
type skippedStore struct {
	keys  map[skipID][keySize]byte
	order []skipID
}

func (st *skippedStore) len() int { return len(st.keys) }

func (st *skippedStore) get(id skipID) ([keySize]byte, bool) {
	mk, ok := st.keys[id]
	return mk, ok
}

func (st *skippedStore) remove(id skipID) {
	if _, ok := st.keys[id]; ok {
		st.keys[id] = [keySize]byte{}
		delete(st.keys, id)
	}
	st.compact()
}

// push stores k as the newest key; ids are never pushed twice, since a
// chain only moves forward.
func (st *skippedStore) push(k *skippedKey) {
	if st.keys == nil {
		st.keys = make(map[skipID][keySize]byte)
	}
	st.keys[k.id] = k.mk
	st.order = append(st.order, k.id)
	for len(st.keys) > MaxStoredSkipped && len(st.order) > 0 {
		id := st.order[0]
		st.order = st.order[1:]
		if _, ok := st.keys[id]; ok {
			st.keys[id] = [keySize]byte{}
			delete(st.keys, id)
		}
	}
	st.compact()
}

// removeChain deletes every key of chain c.
func (st *skippedStore) removeChain(c chainID) {
	for id := range st.keys {
		if id.chain == c {
			st.keys[id] = [keySize]byte{}
			delete(st.keys, id)
		}
	}
	st.compact()
}

// compact drops stale ids once they outnumber the live ones.
func (st *skippedStore) compact() {
	if len(st.order) <= 2*len(st.keys)+64 {
		return
	}
	fresh := make([]skipID, 0, len(st.keys)+64)
	for _, id := range st.order {
		if _, ok := st.keys[id]; ok {
			fresh = append(fresh, id)
		}
	}
	st.order = fresh
}
