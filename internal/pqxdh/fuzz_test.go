package pqxdh

import (
	"bytes"
	"testing"
)

// fuzzSeeds returns valid encodings of every decoded type, built fresh so
// the corpus follows the format.
func fuzzSeeds(f *testing.F) (bundle, msg, ring []byte) {
	alice, bob := newParty(f, 1), newParty(f, 2)
	b := bob.bundle(f, true, false)
	in, err := Initiate(alice.dev, alice.cert, b)
	if err != nil {
		f.Fatal(err)
	}
	m := (&PreKeyMessage{Header: in.Header, Message: []byte("ratchet")}).Marshal()
	return b.Marshal(), m, bob.ring.Marshal()
}

func addSeeds(f *testing.F, valid []byte) {
	for _, s := range [][]byte{valid, valid[:len(valid)/2], append(bytes.Clone(valid), 0), {1}, nil} {
		f.Add(s)
	}
}

func FuzzParseBundle(f *testing.F) {
	b, _, _ := fuzzSeeds(f)
	addSeeds(f, b)
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ParseBundle(in)
		if err == nil && !bytes.Equal(x.Marshal(), in) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}

func FuzzParsePreKeyMessage(f *testing.F) {
	_, m, _ := fuzzSeeds(f)
	addSeeds(f, m)
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ParsePreKeyMessage(in)
		if err == nil && !bytes.Equal(x.Marshal(), in) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}

func FuzzParseKeyring(f *testing.F) {
	_, _, r := fuzzSeeds(f)
	addSeeds(f, r)
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ParseKeyring(in)
		if err == nil && !bytes.Equal(x.Marshal(), in) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}

func FuzzParsePreKeys(f *testing.F) {
	p := newParty(f, 3)
	spk := p.ring.SignedPreKey()
	kem := p.ring.LastResort()
	otp, _ := p.ring.GenerateOneTime(1)
	for _, s := range [][]byte{spk.Marshal(), kem.Marshal(), otp[0].Marshal(), nil} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if x, err := ParseSignedPreKey(in); err == nil && !bytes.Equal(x.Marshal(), in) {
			t.Fatal("signed prekey re-encoding differs")
		}
		if x, err := ParseKEMPreKey(in); err == nil && !bytes.Equal(x.Marshal(), in) {
			t.Fatal("KEM prekey re-encoding differs")
		}
		if x, err := ParseOneTimePreKey(in); err == nil && !bytes.Equal(x.Marshal(), in) {
			t.Fatal("one-time prekey re-encoding differs")
		}
	})
}
