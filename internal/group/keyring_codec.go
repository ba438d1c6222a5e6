package group

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/wire"
)

const (
	keyringVersion = 0x01
	keyringStruct  = "group keyring"
	// minChainSize is a stored chain with a one-byte user name:
	// key id || bytes8(user) || u32(device) || u64(epoch) || u32(next) || ck.
	minChainSize = pubSize + 1 + 1 + 4 + 8 + 4 + keySize
	// skippedSize is key id || u32(iteration) || mk.
	skippedSize = pubSize + 4 + keySize
)

// MarshalBinary returns the Keyring's stored encoding (doc/SPEC.md §12.13):
//
//	u8(0x01) || group id (16) || u16(n) || chain * n || u16(m) || skipped * m
//	chain   = key id (32) || bytes8(user) || u32(device) || u64(epoch) || u32(next) || ck (32)
//	skipped = key id (32) || u32(iteration) || mk (32)
//
// Chains are sorted by key id and skipped keys are oldest first, so equal
// Keyrings encode to equal bytes. The encoding is secret: it holds every
// chain and message key. It fails only when a chain was added with an
// Address no member device can have (a name that is not a valid username,
// or device 0), which the caller's HasDevice check rules out.
func (k *Keyring) MarshalBinary() ([]byte, error) {
	ids := make([][pubSize]byte, 0, len(k.chains))
	for id := range k.chains {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b [pubSize]byte) int { return bytes.Compare(a[:], b[:]) })
	live := k.skipped.live()
	w := wire.NewWriter(make([]byte, 0, 1+IDSize+4+len(ids)*(minChainSize+16)+len(live)*skippedSize))
	w.U8(keyringVersion)
	w.Fixed(k.group[:])
	w.U16(uint16(len(ids)))
	for _, id := range ids {
		c := k.chains[id]
		if !validAddress(c.from) {
			return nil, fmt.Errorf("%w: a chain's address is not a member device", ErrInvalid)
		}
		w.Fixed(id[:])
		w.Bytes8([]byte(c.from.User))
		w.U32(c.from.Device)
		w.U64(c.epoch)
		w.U32(c.next)
		w.Fixed(c.ck[:])
	}
	w.U16(uint16(len(live)))
	for _, id := range live {
		mk := k.skipped.keys[id]
		w.Fixed(id.key[:])
		w.U32(id.iteration)
		w.Fixed(mk[:])
	}
	return w.Bytes(), nil
}

// UnmarshalBinary replaces k with the Keyring MarshalBinary encoded. It
// refuses anything a Keyring cannot reach, so each accepted input
// re-encodes to the same bytes; on error k is unchanged. It never refuses
// what Add and Decrypt can produce, so a member sending odd distributions
// cannot make a stored keyring unreadable.
func (k *Keyring) UnmarshalBinary(b []byte) error {
	r := wire.NewReader(keyringStruct, b)
	r.Version(keyringVersion)
	var id ID
	copy(id[:], r.Fixed("group_id", IDSize))
	n := NewKeyring(id)
	readChains(r, n)
	readSkipped(r, n)
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

func readChains(r *wire.Reader, k *Keyring) {
	n := readCount(r, "chains", MaxChains, minChainSize)
	var prev []byte
	for i := 0; i < n && r.Err() == nil; i++ {
		id := r.Fixed("chains.key_id", pubSize)
		// Strictly ascending ids: one encoding per keyring, and a chain
		// cannot appear twice (the second copy could rewind the first).
		if r.Err() == nil && i > 0 && bytes.Compare(prev, id) >= 0 {
			r.Fail("chains.key_id", wire.ErrMalformed, "chains must be sorted by key id and unique")
		}
		prev = id
		c := &recvChain{}
		c.from.User = string(r.Bytes8("chains.user", MaxNameLen))
		c.from.Device = r.U32("chains.device")
		if r.Err() == nil && !validAddress(c.from) {
			r.Fail("chains.user", wire.ErrMalformed, "not a member device")
		}
		c.epoch = r.U64("chains.epoch")
		c.next = r.U32("chains.next")
		copy(c.ck[:], r.Fixed("chains.ck", keySize))
		if r.Err() == nil {
			k.chains[[pubSize]byte(id)] = c
		}
	}
}

func readSkipped(r *wire.Reader, k *Keyring) {
	n := readCount(r, "skipped", MaxStoredSkipped, skippedSize)
	for i := 0; i < n && r.Err() == nil; i++ {
		var sk skippedKey
		copy(sk.id.key[:], r.Fixed("skipped.key_id", pubSize))
		sk.id.iteration = r.U32("skipped.iteration")
		copy(sk.mk[:], r.Fixed("skipped.mk", keySize))
		if r.Err() != nil {
			break
		}
		// A skipped key belongs to a held chain, below its next iteration,
		// and appears once: a key outside that would open a message the
		// chain already passed or never reached (a replay), or outlive the
		// chain Forget deleted.
		c, ok := k.chains[sk.id.key]
		_, dup := k.skipped.get(sk.id)
		switch {
		case !ok:
			r.Fail("skipped.key_id", wire.ErrMalformed, "no chain with this key id")
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
