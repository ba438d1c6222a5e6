package tagged

import (
	"crypto/subtle"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/wire"
)

// Sender is one device's sending side towards one peer device: the chain of
// the newest batch the peer offered (§14.4). The zero value holds nothing
// and seals nothing. Methods never modify their receiver.
type Sender struct {
	epoch uint32   // 0: no offer accepted yet
	pos   int      // next position, 0..Window; Window: used up
	ck    [32]byte // ck_pos; zero once used up
}

// Epoch returns the epoch of the batch held, 0 if none.
func (s *Sender) Epoch() uint32 { return s.epoch }

// Remaining returns how many envelopes s can still seal.
func (s *Sender) Remaining() int {
	if s.epoch == 0 {
		return 0
	}
	return Window - s.pos
}

// CanSeal reports whether s holds an unused position.
func (s *Sender) CanSeal() bool { return s.Remaining() > 0 }

// Accept returns the sender state after the peer's offer o. A repeat of the
// offer already held returns an equal state; an older or conflicting one is
// refused with ErrStaleOffer (it must not move the sender back onto keys
// the receiver deleted).
func (s *Sender) Accept(o *Offer) (*Sender, error) {
	if o == nil || o.Epoch == 0 {
		return nil, errorf(ErrInvalid, "offer without an epoch")
	}
	if o.Epoch < s.epoch {
		return nil, errorf(ErrStaleOffer, "epoch %d, holding %d", o.Epoch, s.epoch)
	}
	if o.Epoch == s.epoch {
		// The same batch again (the receiver re-sends a pending offer):
		// keep the position. Another seed under the same epoch is refused.
		ck := firstChainKey(o.Epoch, &o.Seed)
		same := s.pos > 0 || subtle.ConstantTimeCompare(ck[:], s.ck[:]) == 1
		clear(ck[:])
		if !same {
			return nil, errorf(ErrStaleOffer, "another batch under epoch %d", o.Epoch)
		}
		// A batch already in use cannot be checked against its seed (ck_0
		// is gone): a repeat of its epoch changes nothing.
		n := *s
		return &n, nil
	}
	return &Sender{epoch: o.Epoch, ck: firstChainKey(o.Epoch, &o.Seed)}, nil
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
	next, tag, key := step(&s.ck)
	defer clear(key[:])
	env := sealAt(&tag, &key, pt)
	n := &Sender{epoch: s.epoch, pos: s.pos + 1, ck: next}
	if n.pos == Window {
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

// MarshalBinary encodes s (§14.7). The encoding is secret.
func (s *Sender) MarshalBinary() ([]byte, error) {
	w := wire.NewWriter(make([]byte, 0, 2+4+1+32))
	w.U8(stateVersion)
	if s.epoch == 0 {
		w.U8(0)
		return w.Bytes(), nil
	}
	w.U8(1)
	w.U32(s.epoch)
	w.U8(uint8(s.pos))
	if s.pos < Window {
		w.Fixed(s.ck[:])
	}
	return w.Bytes(), nil
}

// UnmarshalBinary decodes a sender state strictly into s.
func (s *Sender) UnmarshalBinary(b []byte) error {
	r := wire.NewReader("tagged sender", b)
	r.Version(stateVersion)
	var n Sender
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
		if r.Err() == nil && n.pos < Window {
			copy(n.ck[:], r.Fixed("chain key", 32))
		}
	}
	if err := r.Done(); err != nil {
		return err
	}
	*s = n
	return nil
}
