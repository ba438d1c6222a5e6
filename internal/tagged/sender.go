package tagged

import (
	"crypto/subtle"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/wire"
)

// Sender is one device's sending side towards one peer device: the chain of
// the newest epoch the peer offered (§14.4), a batch or a continuable
// epoch. The zero value holds nothing and seals nothing. Methods never
// modify their receiver.
type Sender struct {
	epoch uint32   // 0: no offer accepted yet
	cont  bool     // a continuable epoch (else a batch)
	pos   int      // next position, 0..limit(); limit: used up
	ck    [32]byte // ck_pos; zero once used up
	tk    [32]byte // continuable: the tag key
}

// limit is the number of positions of s's epoch.
func (s *Sender) limit() int {
	if s.cont {
		return MaxPosition
	}
	return Window
}

// Epoch returns the epoch held, 0 if none.
func (s *Sender) Epoch() uint32 { return s.epoch }

// Remaining returns how many envelopes s can still seal.
func (s *Sender) Remaining() int {
	if s.epoch == 0 {
		return 0
	}
	return s.limit() - s.pos
}

// CanSeal reports whether s holds an unused position.
func (s *Sender) CanSeal() bool { return s.Remaining() > 0 }

// Accept returns the sender state after the peer's offer o. A repeat of the
// offer already held returns an equal state; an older or conflicting one is
// refused with ErrStaleOffer (it must not move the sender back onto keys
// the receiver deleted).
func (s *Sender) Accept(o *Offer) (*Sender, error) {
	if !o.valid() {
		return nil, errorf(ErrInvalid, "offer without an epoch or of an unknown version")
	}
	if o.Epoch < s.epoch {
		return nil, errorf(ErrStaleOffer, "epoch %d, holding %d", o.Epoch, s.epoch)
	}
	n := &Sender{epoch: o.Epoch, cont: o.Version == OfferContinuable}
	if n.cont {
		n.tk, n.ck = epochKeys(o.Epoch, &o.Seed)
	} else {
		n.ck = firstChainKey(o.Epoch, &o.Seed)
	}
	if o.Epoch > s.epoch {
		return n, nil
	}
	// The same epoch again (the receiver re-sends a pending offer): keep
	// the position. Another seed or version under the same epoch is
	// refused. A continuable chain keeps its tag key to compare; a batch
	// in use cannot be checked against its seed (ck_0 is gone): a repeat
	// of its epoch changes nothing.
	var same bool
	switch {
	case n.cont != s.cont:
	case n.cont:
		same = subtle.ConstantTimeCompare(n.tk[:], s.tk[:]) == 1
	default:
		same = s.pos > 0 || subtle.ConstantTimeCompare(n.ck[:], s.ck[:]) == 1
	}
	clear(n.ck[:])
	clear(n.tk[:])
	if !same {
		return nil, errorf(ErrStaleOffer, "another epoch under number %d", o.Epoch)
	}
	c := *s
	return &c, nil
}

// Seal seals c under the next position and returns the new sender state
// and the envelope. c.Recipient must name the peer device. With no unused
// position it returns ErrNoPosition: the caller seals a sealed envelope
// (§6.4) instead. The caller must store the new state before the envelope
// leaves the device, so no position is ever used twice.
func (s *Sender) Seal(c *envelope.Content) (*Sender, []byte, error) {
	if !s.CanSeal() {
		return nil, nil, ErrNoPosition
	}
	if c == nil || c.Recipient == (envelope.Address{}) {
		return nil, nil, errorf(ErrInvalid, "content must name its recipient")
	}
	pt, err := c.Marshal()
	if err != nil {
		return nil, nil, err
	}
	defer clear(pt)
	var next [32]byte
	var tag Tag
	var key [keyLen]byte
	if s.cont {
		next, key = step2(&s.ck)
		tag = tagAt(tagCipher(&s.tk), uint32(s.pos))
	} else {
		next, tag, key = step(&s.ck)
	}
	defer clear(key[:])
	env := sealAt(&tag, &key, pt)
	n := &Sender{epoch: s.epoch, cont: s.cont, pos: s.pos + 1, ck: next, tk: s.tk}
	if n.pos == n.limit() {
		clear(n.ck[:]) // used up: nothing left to derive
	}
	return n, env, nil
}

// sealAt builds an envelope from a padded content. Tests use it directly.
func sealAt(tag *Tag, key *[keyLen]byte, pt []byte) []byte {
	out := make([]byte, 0, Overhead+len(pt))
	out = append(out, Type)
	out = append(out, tag[:]...)
	aad := out[:1+TagLen] // type byte and tag
	return aead(key).Seal(out, zeroNonce[:], pt, aad)
}

// MarshalBinary encodes s (§14.7): version 0x01 for none or a batch, 0x02
// for a continuable epoch. The encoding is secret.
func (s *Sender) MarshalBinary() ([]byte, error) {
	w := wire.NewWriter(make([]byte, 0, 1+4+4+32+32))
	switch {
	case s.epoch == 0:
		w.U8(stateVersion)
		w.U8(0)
	case s.cont:
		w.U8(stateVersion2)
		w.U32(s.epoch)
		w.U32(uint32(s.pos))
		w.Fixed(s.tk[:])
		if s.pos < MaxPosition {
			w.Fixed(s.ck[:])
		}
	default:
		w.U8(stateVersion)
		w.U8(1)
		w.U32(s.epoch)
		w.U8(uint8(s.pos))
		if s.pos < Window {
			w.Fixed(s.ck[:])
		}
	}
	return w.Bytes(), nil
}

// UnmarshalBinary decodes a sender state strictly into s.
func (s *Sender) UnmarshalBinary(b []byte) error {
	r := wire.NewReader("tagged sender", b)
	var n Sender
	switch v := r.U8("version"); {
	case r.Err() != nil:
	case v == stateVersion:
		switch has := r.U8("has"); {
		case r.Err() != nil:
		case has > 1:
			r.Fail("has", wire.ErrMalformed, "not 0 or 1")
		case has == 1:
			n.epoch = r.U32("epoch")
			n.pos = int(r.U8("position"))
			if r.Err() == nil && n.epoch == 0 {
				r.Fail("epoch", wire.ErrMalformed, "epoch 0")
			}
			if r.Err() == nil && n.pos > Window {
				r.Fail("position", wire.ErrMalformed, "beyond the batch")
			}
		}
	case v == stateVersion2:
		n.cont = true
		n.epoch = r.U32("epoch")
		pos := r.U32("position")
		if r.Err() == nil && pos > MaxPosition {
			r.Fail("position", wire.ErrMalformed, "beyond the epoch")
		}
		n.pos = int(pos)
		copy(n.tk[:], r.Fixed("tag key", 32))
		if r.Err() == nil && n.epoch == 0 {
			r.Fail("epoch", wire.ErrMalformed, "epoch 0")
		}
	default:
		r.Fail("version", wire.ErrVersion, "unknown")
	}
	if r.Err() == nil && n.epoch != 0 && n.pos < n.limit() {
		copy(n.ck[:], r.Fixed("chain key", 32))
	}
	if err := r.Done(); err != nil {
		return err
	}
	*s = n
	return nil
}
