package envelope

import (
	"bytes"
	"crypto/hpke"
	"testing"
)

// fuzzKey is a fixed envelope key, so that corpus entries stay meaningful
// across runs.
func fuzzKey(f *testing.F) hpke.PrivateKey {
	f.Helper()
	priv, err := hpke.MLKEM768X25519().NewPrivateKey(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		f.Fatal(err)
	}
	return priv
}

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

func FuzzParseContent(f *testing.F) {
	var seeds [][]byte
	for _, c := range []*Content{testContent(bob, 0), testContent(Address{}, 10), testContent(carol, 300)} {
		b, err := c.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	seeds = append(seeds, nil, []byte{1}, []byte{2, 0, 0}, seeds[0][:100])
	addSeeds(f, seeds...)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseContent(b)
		if err != nil {
			return
		}
		again, err := c.Marshal()
		if err != nil {
			t.Fatalf("parsed content does not marshal: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}

func FuzzParseMulti(f *testing.F) {
	_, pubs := newKeys(f, 2)
	var seeds [][]byte
	for _, n := range []int{1, 2} {
		m, err := SealMulti(pubs[:n], testContent(Address{}, 10))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, m.Marshal())
	}
	seeds = append(seeds, nil, []byte{1, 0, 0, 0, 0}, seeds[0][:300])
	addSeeds(f, seeds...)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMulti(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Marshal(), b) {
			t.Fatal("re-encoding differs from the input")
		}
		for i := range m.NumSlots() {
			if _, err := m.Delivery(i); err != nil {
				t.Fatalf("Delivery(%d): %v", i, err)
			}
		}
	})
}

func FuzzOpen(f *testing.F) {
	priv := fuzzKey(f)
	var seeds [][]byte
	for _, n := range []int{0, 300} {
		env, err := Seal(priv.PublicKey(), testContent(bob, n))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, env)
	}
	seeds = append(seeds, nil, []byte{SealedVersion}, seeds[0][:1+EncLen])
	addSeeds(f, seeds...)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Open(priv, bob, b)
		if err != nil {
			if c != nil {
				t.Fatal("content returned with an error")
			}
			return
		}
		if c.Recipient != bob {
			t.Fatal("opened content addressed to someone else")
		}
		enc, err := c.Marshal()
		if err != nil {
			t.Fatalf("opened content does not marshal: %v", err)
		}
		if len(b) != 1+EncLen+len(enc)+tagLen {
			t.Fatal("envelope length is not its content's bucket")
		}
	})
}

func FuzzOpenDelivery(f *testing.F) {
	priv := fuzzKey(f)
	m, err := SealMulti([]hpke.PublicKey{priv.PublicKey()}, testContent(Address{}, 10))
	if err != nil {
		f.Fatal(err)
	}
	d, _ := m.Delivery(0)
	addSeeds(f, d, nil, []byte{DeliveryVersion}, d[:1+SlotLen])
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := OpenDelivery(priv, b)
		if err != nil {
			if c != nil {
				t.Fatal("content returned with an error")
			}
			return
		}
		if c.Recipient != (Address{}) {
			t.Fatal("opened delivery content naming a recipient")
		}
		enc, err := c.Marshal()
		if err != nil {
			t.Fatalf("opened content does not marshal: %v", err)
		}
		if len(b) != 1+SlotLen+len(enc)+tagLen {
			t.Fatal("delivery length is not its content's bucket")
		}
	})
}
