package ratchet

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/wire"
)

// midConversation returns a pair of States with skipped keys stored on both
// sides, retired chains, and the messages still in flight.
func midConversation(t *testing.T) (alice, bob *State, toBob, toAlice [][]byte) {
	alice, bob = newPair(t)
	a := []([]byte){encrypt(t, alice, "a0"), encrypt(t, alice, "a1"), encrypt(t, alice, "a2")}
	decryptOK(t, bob, a[2], "a2") // a0, a1 skipped
	b := [][]byte{encrypt(t, bob, "b0"), encrypt(t, bob, "b1")}
	decryptOK(t, alice, b[1], "b1") // b0 skipped
	a3 := encrypt(t, alice, "a3")
	decryptOK(t, bob, a3, "a3") // Bob retires Alice's first chain
	return alice, bob, [][]byte{a[0], a[1]}, [][]byte{b[0]}
}

func TestStateRoundTripMidConversation(t *testing.T) {
	alice, bob, toBob, toAlice := midConversation(t)
	if bob.skipped.len() != 2 || alice.skipped.len() != 1 || bob.past.len() != 1 {
		t.Fatalf("setup: bob skipped %d past %d, alice skipped %d", bob.skipped.len(), bob.past.len(), alice.skipped.len())
	}
	restore := func(s *State) *State {
		enc := marshal(t, s)
		var r State
		if err := r.UnmarshalBinary(enc); err != nil {
			t.Fatalf("UnmarshalBinary: %v", err)
		}
		if again := marshal(t, &r); !bytes.Equal(enc, again) {
			t.Fatal("MarshalBinary(UnmarshalBinary(b)) != b")
		}
		return &r
	}
	alice, bob = restore(alice), restore(bob)
	decryptOK(t, bob, toBob[1], "a1")
	decryptOK(t, alice, toAlice[0], "b0")
	decryptOK(t, bob, toBob[0], "a0")
	for i := range 4 {
		decryptOK(t, alice, encrypt(t, bob, label("b", i)), label("b", i))
		decryptOK(t, bob, encrypt(t, alice, label("a", i)), label("a", i))
	}
	// A fresh responder round-trips too (no remote key, no chains).
	_, fresh := newPair(t)
	restore(fresh)
}

func TestUnmarshalFailureLeavesStateAlone(t *testing.T) {
	alice, _, _, _ := midConversation(t)
	before := marshal(t, alice)
	if err := alice.UnmarshalBinary(before[:len(before)-1]); err == nil {
		t.Fatal("truncated state accepted")
	}
	if !bytes.Equal(before, marshal(t, alice)) {
		t.Fatal("failed UnmarshalBinary changed the State")
	}
}

// Every prefix of a valid encoding is refused as truncated.
func TestUnmarshalRefusesTruncation(t *testing.T) {
	_, bob, _, _ := midConversation(t)
	enc := marshal(t, bob)
	for i := range enc {
		var s State
		if err := s.UnmarshalBinary(enc[:i]); !errors.Is(err, wire.ErrTruncated) {
			t.Fatalf("prefix of %d/%d bytes: %v, want ErrTruncated", i, len(enc), err)
		}
	}
}

// stateOffsets locates the variable-position fields of an encoding.
type stateOffsets struct{ ad, past, skipped int }

func offsets(s *State) stateOffsets {
	o := 2 + 3*keySize // flags, rk, dhs and its public key
	for _, present := range []bool{s.remote, s.sending, s.receiving} {
		if present {
			o += keySize
		}
	}
	o += 12
	past := o + 2 + len(s.ad)
	return stateOffsets{ad: o, past: past, skipped: past + 2 + len(s.past)}
}

func TestUnmarshalRefusesMalformed(t *testing.T) {
	_, bob, _, _ := midConversation(t)
	enc := marshal(t, bob)
	off := offsets(bob)
	if got := binary.BigEndian.Uint16(enc[off.skipped:]); got != 2 {
		t.Fatalf("offset computation wrong: skipped count %d", got)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), enc...)) }
	firstSkip := off.skipped + 2
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"version", mutate(func(b []byte) []byte { b[0] = 3; return b }), wire.ErrVersion},
		{"unknown flag", mutate(func(b []byte) []byte { b[1] |= 0x80; return b }), wire.ErrMalformed},
		{"chain without remote key", mutate(func(b []byte) []byte { b[1] &^= flagRemote; return b }), wire.ErrMalformed},
		{"trailing byte", append(mutate(func(b []byte) []byte { return b }), 0), wire.ErrTrailing},
		{"AD too long", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[off.ad:], MaxAD+1)
			return b
		}), wire.ErrTooLarge},
		{"too many past chains", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[off.past:], MaxPastChains+1)
			return b
		}), wire.ErrTooLarge},
		{"too many skipped keys", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[off.skipped:], MaxStoredSkipped+1)
			return b
		}), wire.ErrTooLarge},
		{"duplicate skipped key", mutate(func(b []byte) []byte {
			copy(b[firstSkip+68:firstSkip+104], b[firstSkip:firstSkip+36])
			return b
		}), wire.ErrMalformed},
		{"reserved skipped number", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[firstSkip+32:], reservedN)
			return b
		}), wire.ErrMalformed},
		{"retired current key", mutate(func(b []byte) []byte {
			copy(b[off.past+2:], bob.dhrPub[:])
			return b
		}), wire.ErrMalformed},
	}
	for _, c := range cases {
		var s State
		if err := s.UnmarshalBinary(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}

	// A counter on a receiving chain that does not exist.
	_, fresh := newPair(t)
	b := marshal(t, fresh)
	binary.BigEndian.PutUint32(b[2+3*keySize+4:], 1) // nr
	var s State
	if err := s.UnmarshalBinary(b); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("nr without receiving chain: %v", err)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	_, bob, toBob, _ := midConversation(t)
	c := bob.Clone()
	before := marshal(t, c)
	decryptOK(t, bob, toBob[0], "a0")
	if !bytes.Equal(before, marshal(t, c)) {
		t.Fatal("Decrypt on the original changed the clone")
	}
	decryptOK(t, c, toBob[0], "a0")
}

// Loading checks the retired chains for duplicates by a set of key
// prefixes: a full list loads and re-encodes to itself, keys that share
// their first 8 bytes are still told apart, and a duplicate anywhere in
// the list (first and last, neighbours, one pair among prefix twins) is
// refused.
func TestPastChainsDuplicateCheck(t *testing.T) {
	_, bob, _, _ := midConversation(t)
	full := func(edit func(p []pastChain)) []byte {
		s := bob.Clone()
		p := make([]pastChain, MaxPastChains)
		for i := range p {
			rand.Read(p[i].pub[:])
			p[i].end = uint32(i)
		}
		// Prefix twins: keys 10 to 19 share their first 8 bytes.
		for i := 11; i < 20; i++ {
			copy(p[i].pub[:8], p[10].pub[:8])
		}
		if edit != nil {
			edit(p)
		}
		s.past = nil
		for _, c := range p {
			s.past = s.past.push(c)
		}
		return marshal(t, s)
	}
	ok := full(nil)
	var s State
	if err := s.UnmarshalBinary(ok); err != nil {
		t.Fatalf("64 distinct retired chains: %v", err)
	}
	if !bytes.Equal(marshal(t, &s), ok) {
		t.Fatal("retired chains do not re-encode to themselves")
	}
	for _, c := range []struct {
		name string
		i, j int
	}{{"first and last", 0, MaxPastChains - 1}, {"neighbours", 30, 31}, {"prefix twins", 12, 17}} {
		b := full(func(p []pastChain) { p[c.j].pub = p[c.i].pub })
		var s State
		if err := s.UnmarshalBinary(b); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s duplicated: %v, want ErrMalformed", c.name, err)
		}
	}
}

// A State loaded with UnmarshalShared never writes into the encoding it
// shares: a DH step that retires a chain, sending, and a refused message
// leave it as it was, and the State stores what UnmarshalBinary's would.
func TestUnmarshalSharedLeavesEncoding(t *testing.T) {
	alice, bob := newPair(t)
	for i := range 4 { // both sides retire chains
		decryptOK(t, bob, encrypt(t, alice, label("alice", i)), label("alice", i))
		decryptOK(t, alice, encrypt(t, bob, label("bob", i)), label("bob", i))
	}
	enc := marshal(t, bob)
	if bob.past.len() == 0 {
		t.Fatal("setup: no retired chains")
	}
	orig := bytes.Clone(enc)
	var shared, copied State
	if err := shared.UnmarshalShared(enc); err != nil {
		t.Fatal(err)
	}
	if err := copied.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	m := encrypt(t, alice, "a DH step for bob")
	forged := bytes.Clone(m)
	forged[len(forged)-1] ^= 1
	if _, err := shared.Decrypt(forged); err == nil {
		t.Fatal("forged message accepted")
	}
	decryptOK(t, &shared, m, "a DH step for bob")
	decryptOK(t, &copied, m, "a DH step for bob")
	encrypt(t, &shared, "reply")
	encrypt(t, &copied, "reply")
	if !bytes.Equal(enc, orig) {
		t.Fatal("a State loaded with UnmarshalShared wrote into its encoding")
	}
	a, b := marshal(t, &shared), marshal(t, &copied)
	// The replies' ratchet keys differ (fresh key pairs); compare the
	// retired chains, which both must have advanced alike.
	if shared.past.len() != copied.past.len() || !bytes.Equal(shared.past, copied.past) || len(a) != len(b) {
		t.Fatal("UnmarshalShared and UnmarshalBinary States diverged")
	}
}

// MarshalBinary allocates exactly its encoding, whatever the phase of
// the post-quantum ratchet and the keys held, so that a State stored per
// message costs one allocation of its size.
func TestMarshalBinaryExactSize(t *testing.T) {
	alice, bob := newPair(t)
	phases := map[pqPhase]bool{}
	for i := range 80 {
		for _, s := range []*State{alice, bob} {
			b := marshal(t, s)
			if len(b) != cap(b) || len(b) != s.size() {
				t.Fatalf("round %d, version %d: %d bytes in a buffer of %d (size %d)", i, s.Version(), len(b), cap(b), s.size())
			}
			if s.v2 {
				phases[s.pq.phase] = true
			}
		}
		m := encrypt(t, alice, "x")
		if i%7 != 3 { // some lost: bob holds skipped keys
			decryptOK(t, bob, m, "x")
		}
		if i%3 == 0 {
			decryptOK(t, alice, encrypt(t, bob, "y"), "y")
		}
	}
	if len(phases) < 5 {
		t.Fatalf("phases covered: %v", phases)
	}
}

// Loading a State that holds no skipped keys with UnmarshalShared, as a
// client does for every message, allocates nothing: no copy of the
// retired chains or associated data, no post-quantum block on the heap,
// no parsed ratchet keys (each waits for the DH step that needs it).
func TestUnmarshalSharedAllocatesNothing(t *testing.T) {
	alice, bob := newPair(t)
	for i := range 4 {
		decryptOK(t, bob, encrypt(t, alice, label("alice", i)), label("alice", i))
		decryptOK(t, alice, encrypt(t, bob, label("bob", i)), label("bob", i))
	}
	enc := marshal(t, bob)
	if bob.past.len() == 0 || bob.Version() != 2 || bob.SkippedKeys() != 0 {
		t.Fatal("setup: want retired chains, version 2, no skipped keys")
	}
	var s State
	if n := testing.AllocsPerRun(50, func() {
		if err := s.UnmarshalShared(enc); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per load", n)
	}
}
