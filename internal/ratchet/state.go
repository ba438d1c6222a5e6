package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"encoding/binary"
	"fmt"

	"github.com/hush-chat/hush/internal/wire"
)

// State encoding constants.
const (
	stateV1     = 0x01 // read only: written by earlier releases
	stateV2     = 0x02
	stateStruct = "ratchet state"
	pastLen     = keySize + 4 // a retired chain: pub || u32(end)

	flagSending   = 1 << 0 // cks present: the sending chain is ready
	flagReceiving = 1 << 1 // ckr present: a receiving chain exists
	flagRemote    = 1 << 2 // dhr present: the remote ratchet key is known
	knownFlagsV1  = flagSending | flagReceiving | flagRemote

	// Version 2 only.
	flagPQ     = 1 << 3 // the post-quantum block follows: a version 2 session
	flagSendV2 = 1 << 4 // the sending chain writes version 2 messages
	flagMixed  = 1 << 5 // the sending chain's step mixed a PQ secret
	flagPeerV2 = 1 << 6 // the peer sent version 2
	knownFlags = knownFlagsV1 | flagPQ | flagSendV2 | flagMixed | flagPeerV2
)

// MarshalBinary encodes the whole State (see the spec for the layout). The
// encoding contains every secret of the session; store it accordingly. It
// fails only for the zero State.
func (s *State) MarshalBinary() ([]byte, error) {
	if !s.own {
		return nil, fmt.Errorf("%w: State is not initialised", ErrInvalidInput)
	}
	w := wire.NewWriter(make([]byte, 0, s.size()))
	w.U8(stateV2)
	var flags uint8
	if s.sending {
		flags |= flagSending
	}
	if s.receiving {
		flags |= flagReceiving
	}
	if s.remote {
		flags |= flagRemote
	}
	if s.v2 {
		flags |= flagPQ
	}
	if s.sendV2 {
		flags |= flagSendV2
	}
	if s.mixed {
		flags |= flagMixed
	}
	if s.peerV2 {
		flags |= flagPeerV2
	}
	w.U8(flags)
	w.Fixed(s.rk[:])
	w.Fixed(s.dhsPriv[:])
	w.Fixed(s.dhsPub[:])
	if s.remote {
		w.Fixed(s.dhrPub[:])
	}
	if s.sending {
		w.Fixed(s.cks[:])
	}
	if s.receiving {
		w.Fixed(s.ckr[:])
	}
	w.U32(s.ns)
	w.U32(s.nr)
	w.U32(s.pn)
	w.Bytes16(s.ad)
	w.U16(uint16(s.past.len()))
	w.Fixed(s.past)
	w.U16(uint16(s.skipped.len()))
	s.skipped.each(func(id skipID, mk *[keySize]byte) {
		w.Fixed(id.pub[:])
		w.U32(id.n)
		w.Fixed(mk[:])
	})
	if s.v2 {
		s.pq.marshal(w)
	}
	return w.Bytes(), nil
}

// size is the length of s's encoding, so MarshalBinary allocates it once
// and no more.
func (s *State) size() int {
	n := 2 + 3*keySize + 3*4 + 2 + len(s.ad) + 2 + len(s.past) + 2 + s.skipped.len()*(keySize+4+keySize)
	for _, chain := range []bool{s.remote, s.sending, s.receiving} {
		if chain {
			n += keySize
		}
	}
	if s.v2 {
		n += s.pq.size()
	}
	return n
}

// UnmarshalBinary replaces s with the State encoded in b. It refuses any
// encoding MarshalBinary could not have produced, and leaves s unchanged
// when it does.
func (s *State) UnmarshalBinary(b []byte) error {
	return s.unmarshal(b, false)
}

// UnmarshalShared is UnmarshalBinary for a caller that keeps b unchanged
// while s is in use, as a client does with a stored session record for
// one message: s may share b's memory (the session associated data and
// the retired chains, most of a State's bytes) instead of copying it. s
// never writes into b.
func (s *State) UnmarshalShared(b []byte) error {
	return s.unmarshal(b, true)
}

func (s *State) unmarshal(b []byte, shared bool) error {
	var n State
	if err := parseState(&n, b, shared); err != nil {
		return err
	}
	*s = n
	return nil
}

func fail(r *wire.Reader, field string, sentinel error, detail string) {
	if r.Err() == nil {
		r.Fail(field, sentinel, detail)
	}
}

// parseState decodes b into s, zero.
func parseState(s *State, b []byte, shared bool) error {
	r := wire.NewReader(stateStruct, b)
	v := r.U8("version")
	// A version 1 state (earlier releases) is read and re-encoded as
	// version 2; any other version is a format this code cannot read.
	if r.Err() == nil && v != stateV1 && v != stateV2 {
		fail(r, "version", wire.ErrVersion, "unsupported version")
	}
	flags := r.U8("flags")
	// Unknown flags would be fields this version cannot read.
	known := uint8(knownFlags)
	if v == stateV1 {
		known = knownFlagsV1
	}
	if flags&^known != 0 {
		fail(r, "flags", wire.ErrMalformed, "unknown flag")
	}
	s.sending = flags&flagSending != 0
	s.receiving = flags&flagReceiving != 0
	remote := flags&flagRemote != 0
	// A chain without the remote key it was derived with, or a remote key
	// with no chain, is a state no session reaches.
	if remote != (s.sending || s.receiving) {
		fail(r, "flags", wire.ErrMalformed, "inconsistent chains")
	}
	parseFlagsV2(r, s, flags)
	copy(s.rk[:], r.Fixed("rk", keySize))
	priv := r.Fixed("dhs", keySize)
	if v == stateV1 && r.Err() == nil {
		// Version 1 did not store the public key: compute it once.
		k, err := ecdh.X25519().NewPrivateKey(priv)
		if err != nil {
			fail(r, "dhs", wire.ErrMalformed, "bad X25519 private key")
		} else {
			s.setOwn(k)
		}
	} else if r.Err() == nil {
		// Stored with its public key so that loading costs no scalar
		// multiplication; the pair is as trustworthy as the store, which
		// holds the secrets anyway.
		s.own = true
		copy(s.dhsPriv[:], priv)
		copy(s.dhsPub[:], r.Fixed("dhs.public", keySize))
	}
	if remote {
		// Any 32 bytes are an X25519 public key (crypto/ecdh checks only
		// the length), so parsing it waits for the step that needs it.
		if pub := r.Fixed("dhr", keySize); r.Err() == nil {
			s.remote = true
			copy(s.dhrPub[:], pub)
		}
	}
	if s.sending {
		copy(s.cks[:], r.Fixed("cks", keySize))
	}
	if s.receiving {
		copy(s.ckr[:], r.Fixed("ckr", keySize))
	}
	s.ns, s.nr, s.pn = r.U32("ns"), r.U32("nr"), r.U32("pn")
	// A counter without a chain cannot have moved.
	if !s.receiving && s.nr != 0 {
		fail(r, "nr", wire.ErrMalformed, "counter without a receiving chain")
	}
	s.ad = r.Bytes16("ad", MaxAD)
	parsePast(r, s)
	if !shared {
		s.ad, s.past = bytes.Clone(s.ad), bytes.Clone(s.past)
	}
	parseSkipped(r, s)
	if s.v2 && r.Err() == nil {
		parsePQ(r, &s.pq)
	}
	return r.Done()
}

// parsePast reads the retired receiving chains, oldest first.
func parsePast(r *wire.Reader, s *State) {
	count := int(r.U16("past.count"))
	// Checked before the loop: the count bounds the work.
	if count > MaxPastChains {
		fail(r, "past.count", wire.ErrTooLarge, "more than MaxPastChains")
	}
	// Only a receiving chain can be retired.
	if count > 0 && !s.receiving {
		fail(r, "past.count", wire.ErrMalformed, "retired chains without a receiving chain")
	}
	raw := pastChains(r.Fixed("past", count*pastLen))
	if r.Err() != nil {
		return
	}
	// Duplicates would make lookups ambiguous; the current key is not
	// retired. The check runs on every load: an open-addressed set of the
	// keys' first 8 bytes on the stack, whole keys compared only when
	// those match, instead of comparing every pair.
	var set [2 * MaxPastChains]uint8 // index+1 into raw, 0 empty
	for i := range count {
		pub := raw.pub(i)
		dup := s.remote && *pub == s.dhrPub
		h := binary.LittleEndian.Uint64(pub[:8])
		for slot := h % uint64(len(set)); !dup; slot = (slot + 1) % uint64(len(set)) {
			if set[slot] == 0 {
				set[slot] = uint8(i + 1)
				break
			}
			dup = *raw.pub(int(set[slot]) - 1) == *pub
		}
		if dup {
			fail(r, "past.pub", wire.ErrMalformed, "duplicate ratchet key")
			return
		}
	}
	if count > 0 {
		s.past = raw
	}
}

// parseSkipped reads the skipped message keys in FIFO order.
func parseSkipped(r *wire.Reader, s *State) {
	count := int(r.U16("skipped.count"))
	// Checked before the loop: the count bounds the work and the map.
	if count > MaxStoredSkipped {
		fail(r, "skipped.count", wire.ErrTooLarge, "more than MaxStoredSkipped")
	}
	if count > 0 && !s.receiving {
		fail(r, "skipped.count", wire.ErrMalformed, "skipped keys without a receiving chain")
	}
	for i := 0; i < count && r.Err() == nil; i++ {
		var k skippedKey
		copy(k.id.pub[:], r.Fixed("skipped.pub", keySize))
		k.id.n = r.U32("skipped.n")
		copy(k.mk[:], r.Fixed("skipped.mk", keySize))
		if r.Err() != nil {
			break
		}
		if msg := checkSkipped(s, &k.id); msg != "" {
			fail(r, "skipped", wire.ErrMalformed, msg)
			break
		}
		s.skipped.push(&k)
		clear(k.mk[:])
	}
}

// checkSkipped rejects a skipped key no session could hold.
func checkSkipped(s *State, id *skipID) string {
	if _, dup := s.skipped.get(*id); dup {
		return "duplicate key"
	}
	// No message carries the reserved number, so no key is stored for it.
	if id.n == reservedN {
		return "reserved message number"
	}
	return ""
}

// parseFlagsV2 reads the version 2 flags into s, refusing combinations no
// session reaches.
func parseFlagsV2(r *wire.Reader, s *State, flags uint8) {
	if flags&flagPQ != 0 {
		s.v2 = true // s.pq filled by parsePQ
	}
	s.sendV2 = flags&flagSendV2 != 0
	s.mixed = flags&flagMixed != 0
	s.peerV2 = flags&flagPeerV2 != 0
	// Version 2 chains exist only in a version 2 session, only while a
	// sending chain exists; only a version 2 chain can have mixed.
	if (s.sendV2 || s.peerV2) && !s.v2 {
		fail(r, "flags", wire.ErrMalformed, "version 2 chain without the post-quantum state")
	}
	if s.sendV2 && !s.sending {
		fail(r, "flags", wire.ErrMalformed, "version 2 sending chain without a sending chain")
	}
	if s.mixed && !s.sendV2 {
		fail(r, "flags", wire.ErrMalformed, "mixed step in a version 1 chain")
	}
}
