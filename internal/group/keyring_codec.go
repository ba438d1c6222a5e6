package group

import (
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/wire"
)

const (
	keyringVersion = 0x02
	// keyringVersion1 is the encoding before chains were held by sender
	// and key id together; it is still read, and written as version 2.
	keyringVersion1 = 0x01
	keyringStruct   = "group keyring"
	// minChainSize is a stored chain with a one-byte user name:
	// key id || bytes8(user) || u32(device) || u64(epoch) || u32(next) || ck.
	minChainSize = pubSize + 1 + 1 + 4 + 8 + 4 + keySize
	// minSkippedSize is a stored skipped key with a one-byte user name:
	// key id || bytes8(user) || u32(device) || u32(iteration) || mk.
	minSkippedSize = pubSize + 1 + 1 + 4 + 4 + keySize
	// skippedSizeV1 is a version 1 skipped key: key id || u32(iteration) || mk.
	skippedSizeV1 = pubSize + 4 + keySize
)

// MarshalBinary returns the Keyring's stored encoding (doc/SPEC.md §12.13):
//
//	u8(0x02) || group id (16) || u16(n) || chain * n || u16(m) || skipped * m
//	chain   = key id (32) || bytes8(user) || u32(device) || u64(epoch) || u32(next) || ck (32)
//	skipped = key id (32) || bytes8(user) || u32(device) || u32(iteration) || mk (32)
//
// Chains are sorted by key id, then user, then device, and skipped keys
// are oldest first, so equal Keyrings encode to equal bytes. The encoding
// is secret: it holds every chain and message key. It fails only when a
// chain was added with an Address no member device can have (a name that
// is not a valid username, or device 0), which the caller's HasDevice
// check rules out.
func (k *Keyring) MarshalBinary() ([]byte, error) {
	ids := make([]chainID, 0, len(k.chains))
	for id := range k.chains {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareChainIDs)
	live := k.skipped.live()
	w := wire.NewWriter(make([]byte, 0, 1+IDSize+4+len(ids)*(minChainSize+16)+len(live)*(minSkippedSize+16)))
	w.U8(keyringVersion)
	w.Fixed(k.group[:])
	w.U16(uint16(len(ids)))
	for _, id := range ids {
		c := k.chains[id]
		if !validAddress(c.from) {
			return nil, fmt.Errorf("%w: a chain's address is not a member device", ErrInvalid)
		}
		w.Fixed(id.key[:])
		w.Bytes8([]byte(c.from.User))
		w.U32(c.from.Device)
		w.U64(c.epoch)
		w.U32(c.next)
		w.Fixed(c.ck[:])
	}
	w.U16(uint16(len(live)))
	for _, id := range live {
		mk := k.skipped.keys[id]
		w.Fixed(id.chain.key[:])
		w.Bytes8([]byte(id.chain.from.User))
		w.U32(id.chain.from.Device)
		w.U32(id.iteration)
		w.Fixed(mk[:])
	}
	return w.Bytes(), nil
}

// UnmarshalBinary replaces k with the Keyring MarshalBinary encoded. It
// refuses anything a Keyring cannot reach, so each accepted version 2
// input re-encodes to the same bytes; on error k is unchanged. It never
// refuses what Add and Decrypt can produce, so a member sending odd
// distributions cannot make a stored keyring unreadable. A version 1
// keyring (chains unique by key id) is read too.
func (k *Keyring) UnmarshalBinary(b []byte) error {
	r := wire.NewReader(keyringStruct, b)
	v1 := len(b) > 0 && b[0] == keyringVersion1
	if v1 {
		r.Version(keyringVersion1)
	} else {
		r.Version(keyringVersion)
	}
	var id ID
	copy(id[:], r.Fixed("group_id", IDSize))
	n := NewKeyring(id)
	readChains(r, n, v1)
	readSkipped(r, n, v1)
	if err := r.Done(); err != nil {
		n.wipe()
		return err
	}
	k.wipe()
	*k = *n
	return nil
}

// validAddress reports whether a is a possible member device: a valid
// username (so the name fits its bytes8 field) and a non-zero device.
func validAddress(a Address) bool { return validName(a.User) && a.Device != 0 }

// readCount reads a u16 count and refuses one above limit or one the
// remaining bytes cannot hold, before anything is allocated.
func readCount(r *wire.Reader, field string, limit, minSize int) int {
	n := int(r.U16(field + ".count"))
	if r.Err() != nil {
		return 0
	}
	if n > limit {
		r.Fail(field, wire.ErrTooLarge, fmt.Sprintf("%d entries, limit %d", n, limit))
		return 0
	}
	if n*minSize > r.Len() {
		r.Fail(field, wire.ErrTruncated, fmt.Sprintf("%d entries do not fit %d bytes", n, r.Len()))
		return 0
	}
	return n
}

func readChains(r *wire.Reader, k *Keyring, v1 bool) {
	n := readCount(r, "chains", MaxChains, minChainSize)
	var prev chainID
	for i := 0; i < n && r.Err() == nil; i++ {
		var id chainID
		copy(id.key[:], r.Fixed("chains.key_id", pubSize))
		c := &recvChain{}
		c.from.User = string(r.Bytes8("chains.user", MaxNameLen))
		c.from.Device = r.U32("chains.device")
		if r.Err() == nil && !validAddress(c.from) {
			r.Fail("chains.user", wire.ErrMalformed, "not a member device")
		}
		id.from = c.from
		// Strictly ascending: one encoding per keyring, and a chain cannot
		// appear twice (the second copy could rewind the first). Version 1
		// held one chain per key id.
		if r.Err() == nil && i > 0 {
			if o := compareChainIDs(prev, id); o >= 0 || v1 && prev.key == id.key {
				r.Fail("chains.key_id", wire.ErrMalformed, "chains must be sorted and unique")
			}
		}
		prev = id
		c.epoch = r.U64("chains.epoch")
		c.next = r.U32("chains.next")
		copy(c.ck[:], r.Fixed("chains.ck", keySize))
		if r.Err() == nil {
			k.chains[id] = c
		}
	}
}

func readSkipped(r *wire.Reader, k *Keyring, v1 bool) {
	size := minSkippedSize
	if v1 {
		size = skippedSizeV1
	}
	n := readCount(r, "skipped", MaxStoredSkipped, size)
	for i := 0; i < n && r.Err() == nil; i++ {
		var sk skippedKey
		copy(sk.id.chain.key[:], r.Fixed("skipped.key_id", pubSize))
		if v1 {
			// One chain per key id: the skipped key is that chain's.
			for id := range k.chains {
				if id.key == sk.id.chain.key {
					sk.id.chain.from = id.from
				}
			}
		} else {
			sk.id.chain.from.User = string(r.Bytes8("skipped.user", MaxNameLen))
			sk.id.chain.from.Device = r.U32("skipped.device")
		}
		sk.id.iteration = r.U32("skipped.iteration")
		copy(sk.mk[:], r.Fixed("skipped.mk", keySize))
		if r.Err() != nil {
			break
		}
		// A skipped key belongs to a held chain, below its next iteration,
		// and appears once: a key outside that would open a message the
		// chain already passed or never reached (a replay), or outlive the
		// chain Forget deleted.
		c, ok := k.chains[sk.id.chain]
		_, dup := k.skipped.get(sk.id)
		switch {
		case !ok:
			r.Fail("skipped.key_id", wire.ErrMalformed, "no such chain")
		case sk.id.iteration >= c.next:
			r.Fail("skipped.iteration", wire.ErrMalformed, "not below the chain's next iteration")
		case dup:
			r.Fail("skipped", wire.ErrMalformed, "repeated key")
		default:
			k.skipped.push(&sk)
		}
		clear(sk.mk[:])
	}
}

// live returns the ids of the stored keys, oldest first. An id that left
// and came back (a chain forgotten, then given again) keeps its first
// place in order, which is where eviction finds it.
func (st *skippedStore) live() []skipID {
	out := make([]skipID, 0, len(st.keys))
	seen := make(map[skipID]bool, len(st.keys))
	for _, id := range st.order {
		if _, ok := st.keys[id]; ok && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// wipe clears every chain and message key k holds.
func (k *Keyring) wipe() {
	for _, c := range k.chains {
		clear(c.ck[:])
	}
	for id := range k.skipped.keys {
		k.skipped.keys[id] = [keySize]byte{}
	}
}
