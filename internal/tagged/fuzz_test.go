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
	o := &Offer{Epoch: 7, Seed: [32]byte{1, 2, 3}}
	addSeeds(f, o.Marshal(), nil, []byte{1}, make([]byte, OfferLen))
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
	addSeeds(f, marshal(f, &Sender{}), marshal(f, s), marshal(f, used), nil, []byte{1, 1})
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
	two, _, _, _ := used.Offer()
	addSeeds(f, marshal(f, &Receiver{}), marshal(f, r), marshal(f, used), marshal(f, two), nil, []byte{1, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Receiver
		if err := r.UnmarshalBinary(b); err != nil {
			return
		}
		if !bytes.Equal(marshal(t, &r), b) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}
