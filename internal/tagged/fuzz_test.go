package tagged

import (
	"bytes"
	"testing"
)

// addSeeds adds seeds to f and fails if there are none: a fuzz target
// without seeds tests nothing.
func addSeeds(f *testing.F, seeds ...[]byte) {
	f.Helper()
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range seeds {
		f.Add(s)
	}
}

// fuzzPair is a fixed receiver and sender, so corpus entries stay
// meaningful across runs.
func fuzzPair(f *testing.F) (*Receiver, *Sender) {
	var seed [seedLen]byte
	for i := range seed {
		seed[i] = 0x42
	}
	r, o, _, err := (&Receiver{}).withBatch(newBatch(1, &seed))
	if err != nil {
		f.Fatal(err)
	}
	s, err := (&Sender{}).Accept(o)
	if err != nil {
		f.Fatal(err)
	}
	return r, s
}

// FuzzOpen: no input opens but a genuine envelope, none panics, and a
// refusal leaves the receiver as it was.
func FuzzOpen(f *testing.F) {
	r, s := fuzzPair(f)
	_, envs := seal(f, s, 2)
	bad := bytes.Clone(envs[0])
	bad[len(bad)-1] ^= 1
	addSeeds(f, envs[0], envs[1], bad, envs[0][:minEnvelope], nil, []byte{Type}, append([]byte{1}, envs[0][1:]...))
	before := marshal(f, r)
	f.Fuzz(func(t *testing.T, env []byte) {
		n, op, err := r.Open(bob, env)
		if !bytes.Equal(marshal(t, r), before) {
			t.Fatal("Open modified its receiver")
		}
		if err != nil {
			if n != nil || op != nil {
				t.Fatal("a refusal returned a state")
			}
			return
		}
		if !bytes.Equal(env, envs[0]) && !bytes.Equal(env, envs[1]) {
			t.Fatal("an envelope nobody sealed opened")
		}
	})
}

func FuzzParseTag(f *testing.F) {
	_, s := fuzzPair(f)
	_, envs := seal(f, s, 1)
	addSeeds(f, envs[0], nil, []byte{Type}, envs[0][:100], append(bytes.Clone(envs[0]), 0))
	f.Fuzz(func(t *testing.T, env []byte) {
		g, err := ParseTag(env)
		if err != nil {
			return
		}
		if env[0] != Type || !bytes.Equal(g[:], env[1:1+TagLen]) {
			t.Fatal("accepted tag is not the envelope's")
		}
	})
}

func FuzzParseOffer(f *testing.F) {
	o := &Offer{Version: OfferBatch, Epoch: 7, Seed: [32]byte{1, 2, 3}}
	o2 := &Offer{Version: OfferContinuable, Epoch: 8, Seed: [32]byte{4, 5, 6}}
	addSeeds(f, o.Marshal(), o2.Marshal(), nil, []byte{1}, []byte{2}, make([]byte, OfferLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOffer(b)
		if err != nil {
			return
		}
		if !bytes.Equal(o.Marshal(), b) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}

func FuzzSenderState(f *testing.F) {
	_, s := fuzzPair(f)
	used, _ := seal(f, s, Window)
	_, cs := fuzzChainPair(f)
	cs1, _ := seal(f, cs, 1)
	addSeeds(f, marshal(f, &Sender{}), marshal(f, s), marshal(f, used), marshal(f, cs), marshal(f, cs1), nil, []byte{1, 1}, []byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Sender
		if err := s.UnmarshalBinary(b); err != nil {
			return
		}
		if !bytes.Equal(marshal(t, &s), b) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}

func FuzzReceiverState(f *testing.F) {
	r, s := fuzzPair(f)
	_, envs := seal(f, s, 1)
	used, _, _ := r.Open(bob, envs[0])
	two, _, _, _ := used.Offer() // a batch and a continuable epoch
	pending, cused, ctwo := chainStates(f)
	addSeeds(f, marshal(f, &Receiver{}), marshal(f, r), marshal(f, used), marshal(f, two), pending, cused, ctwo, nil, []byte{1, 3}, []byte{2, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Receiver
		if err := r.UnmarshalBinary(b); err != nil {
			return
		}
		if !bytes.Equal(marshal(t, &r), b) {
			t.Fatal("re-encoding differs from the input")
		}
		// Whatever decodes can make an offer and be found in a table.
		if _, _, _, err := r.Offer(); err != nil {
			t.Fatal(err)
		}
		NewTable[int]().Apply(1, r.Held())
	})
}

// fuzzChainPair is fuzzPair with a continuable epoch.
func fuzzChainPair(f *testing.F) (*Receiver, *Sender) {
	var seed [seedLen]byte
	for i := range seed {
		seed[i] = 0x43
	}
	o := &Offer{Version: OfferContinuable, Epoch: 1, Seed: seed}
	r := &Receiver{chains: []*chain{newChain(1, &seed)}}
	s, err := (&Sender{}).Accept(o)
	if err != nil {
		f.Fatal(err)
	}
	return r, s
}

// FuzzOpenChain: on a continuable receiver past a gap, no input opens but
// a genuine envelope, none panics, a refusal leaves the receiver as it was,
// and OpenEncoded agrees with Open.
func FuzzOpenChain(f *testing.F) {
	r, s := fuzzChainPair(f)
	_, envs := seal(f, s, 80)
	r, _, err := r.Open(bob, envs[70]) // hi 71, 7..69 skipped
	if err != nil {
		f.Fatal(err)
	}
	genuine := map[string]bool{}
	for i, env := range envs {
		if i != 70 {
			genuine[string(env)] = true
		}
	}
	bad := bytes.Clone(envs[3])
	bad[len(bad)-1] ^= 1
	addSeeds(f, envs[0], envs[6], envs[7], envs[69], envs[70], envs[79], bad, nil, []byte{Type})
	before := marshal(f, r)
	f.Fuzz(func(t *testing.T, env []byte) {
		n, op, err := r.Open(bob, env)
		if !bytes.Equal(marshal(t, r), before) {
			t.Fatal("Open modified its receiver")
		}
		enc, eop, _, eerr := OpenEncoded(before, bob, env)
		if (err == nil) != (eerr == nil) {
			t.Fatalf("Open: %v, OpenEncoded: %v", err, eerr)
		}
		if err != nil {
			if n != nil || op != nil || enc != nil || eop != nil {
				t.Fatal("a refusal returned a state")
			}
			return
		}
		if !genuine[string(env)] || op.Position < 7 {
			t.Fatal("an envelope nobody sealed, or a gone position, opened")
		}
		if !bytes.Equal(enc, marshal(t, n)) {
			t.Fatal("OpenEncoded's state differs from Open's")
		}
	})
}
