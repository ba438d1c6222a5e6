package tagged

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/wire"
)

// chainStates returns encodings of continuable receivers: pending, in use
// with skipped keys, and two epochs.
func chainStates(t testing.TB) (pending, used, two []byte) {
	r, s := pair(t)
	_, envs := seal(t, s, 10)
	u := r
	for _, i := range []int{2, 7, 5} {
		var err error
		if u, _, err = u.Open(bob, envs[i]); err != nil {
			t.Fatal(err)
		}
	}
	n, _, _, err := u.Offer()
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, r), marshal(t, u), marshal(t, n)
}

// Security regression: every malformed continuable state is refused with a
// *wire.Error, and every accepted one re-encodes to its bytes.
func TestContinuableStrictStateDecoding(t *testing.T) {
	pending, used, two := chainStates(t)
	for name, b := range map[string][]byte{"pending": pending, "used": used, "two": two} {
		var r Receiver
		if err := r.UnmarshalBinary(b); err != nil || !bytes.Equal(marshal(t, &r), b) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// used: 02 00 01 | epoch(4) has(1)=0 tk(32) hi(4) ck(32) count(1) gone(8) keys
	const c0 = 3 // offset of the first continuable epoch
	hiAt, countAt, goneAt := c0+4+1+32, c0+4+1+32+4+32, c0+4+1+32+4+32+1
	set := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	setU32 := func(b []byte, i int, v uint32) []byte {
		b = bytes.Clone(b)
		binary.BigEndian.PutUint32(b[i:], v)
		return b
	}
	setU64 := func(b []byte, i int, v uint64) []byte {
		b = bytes.Clone(b)
		binary.BigEndian.PutUint64(b[i:], v)
		return b
	}
	gone := binary.BigEndian.Uint64(used[goneAt:])
	for name, b := range map[string][]byte{
		"version 3":          set(used, 0, 3),
		"no continuable":     []byte{2, 0, 0},
		"three epochs":       append(bytes.Clone(two[:2]), append([]byte{3}, two[3:]...)...),
		"epoch 0":            setU32(used, c0, 0),
		"has seed 2":         set(used, c0+4, 2),
		"hi beyond":          setU32(used, hiAt, MaxPosition+1),
		"count above mark":   set(used, countAt, RefillMark+1),
		"count 0 in use":     set(used, countAt, 0),
		"count below opened": set(used, countAt, 2),
		"key below 0":        setU64(used, goneAt, gone&^(1<<20)),
		"highest not opened": setU64(used[:len(used)-32], goneAt, gone&^1),
		"trailing":           append(bytes.Clone(used), 0),
		"truncated":          used[:len(used)-1],
		"missing key":        used[:len(used)-32],
		"pending, other tk":  set(pending, c0+4+1+seedLen, pending[c0+4+1+seedLen]^1),
		"pending, hi 1":      setU32(pending, hiAt+seedLen, 1),
		"seed after use":     append(append(bytes.Clone(used[:c0+4]), 1), append(make([]byte, 32), used[c0+5:]...)...),
		"used, no seed":      append(append(bytes.Clone(pending[:c0+4]), 0), pending[c0+5+32:]...),
		"not consecutive":    setU32(two, c0, 5),
		"older never used":   append(append([]byte{2, 0, 2}, pending[c0:]...), pending[c0:]...),
	} {
		var r Receiver
		err := r.UnmarshalBinary(b)
		var we *wire.Error
		if !errors.As(err, &we) {
			t.Errorf("receiver %s: %v, want a *wire.Error", name, err)
		}
		t.Logf("receiver %s: %v", name, err)
	}
	// A state of batches only is version 1, never 2.
	lr, _ := legacyPair(t)
	lb := marshal(t, lr)
	if lb[0] != stateVersion {
		t.Fatal("a state of batches only is not version 1")
	}
	as2 := append(append([]byte{2}, lb[1:]...), 0)
	if err := new(Receiver).UnmarshalBinary(as2); err == nil {
		t.Error("a state of batches only accepted as version 2")
	}

	_, s := pair(t)
	s1, _ := seal(t, s, 1)
	sb := marshal(t, s1) // 02 epoch(4) pos(4) tk(32) ck(32)
	if len(sb) != 1+4+4+32+32 || sb[0] != stateVersion2 {
		t.Fatalf("continuable sender encodes to %d bytes", len(sb))
	}
	var s2 Sender
	if err := s2.UnmarshalBinary(sb); err != nil || !bytes.Equal(marshal(t, &s2), sb) {
		t.Fatalf("sender round trip: %v", err)
	}
	usedUp := setU32(sb[:len(sb)-32], 5, MaxPosition)
	if err := s2.UnmarshalBinary(usedUp); err != nil || s2.CanSeal() || !bytes.Equal(marshal(t, &s2), usedUp) {
		t.Fatalf("used-up continuable sender: %v", err)
	}
	for name, b := range map[string][]byte{
		"epoch 0": setU32(sb, 1, 0), "beyond": setU32(sb, 5, MaxPosition+1),
		"used up with key": setU32(sb, 5, MaxPosition), "trailing": append(bytes.Clone(sb), 0),
		"truncated": sb[:len(sb)-1], "version 3": set(sb, 0, 3),
	} {
		var s Sender
		if err := s.UnmarshalBinary(b); err == nil {
			t.Errorf("sender %s: accepted", name)
		}
	}
	for name, b := range map[string][]byte{"version 0": {0, 0, 0, 0, 1}, "version 3": {3, 0, 0, 0, 1}} {
		b = append(b, make([]byte, seedLen)...)
		if _, err := ParseOffer(b); err == nil {
			t.Errorf("offer %s: accepted", name)
		}
	}
}

// A sender refuses a same-epoch offer of another seed or version, and a
// stale one; a repeat keeps the position, checked against the tag key
// even after use.
func TestContinuableOfferRules(t *testing.T) {
	r, s := pair(t)
	o := r.PendingOffer()
	s, _ = seal(t, s, 5)
	again, err := s.Accept(o)
	if err != nil || again.Remaining() != MaxPosition-5 {
		t.Fatalf("repeat: %v", err)
	}
	other := *o
	other.Seed[3] ^= 1
	if _, err := s.Accept(&other); !errors.Is(err, ErrStaleOffer) {
		t.Fatalf("another seed under the same epoch, in use: %v", err)
	}
	batch := *o
	batch.Version = OfferBatch
	if _, err := s.Accept(&batch); !errors.Is(err, ErrStaleOffer) {
		t.Fatalf("a batch under the same epoch: %v", err)
	}
	if _, err := s.Accept(&Offer{Version: 9, Epoch: 2}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown version: %v", err)
	}
	// Offers are idempotent until used.
	r2, o2, d, err := r.Offer()
	if err != nil || o2.Epoch != 1 || *o2 != *o || len(d.Added) != 0 || !bytes.Equal(marshal(t, r2), marshal(t, r)) {
		t.Fatalf("pending offer not repeated: %v", err)
	}
}
