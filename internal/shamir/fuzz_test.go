package shamir

import (
	"bytes"
	"testing"

	"github.com/hush-chat/hush/internal/testkit"
)

// fuzzVector is the stored known-answer Split: its set and shares seed the
// fuzzers and its secret is the only value Combine may ever return.
func fuzzVector(f *testing.F) (v vector, set *Set) {
	testkit.ReadJSON(f, vectorsPath, &v)
	set, err := ParseSet(v.Set)
	if err != nil {
		f.Fatal(err)
	}
	if len(v.Shares) < v.K {
		f.Fatal("the vectors hold too few shares to seed the fuzzers")
	}
	return v, set
}

// FuzzParseShare: no input panics, and whatever parses re-encodes to the
// same bytes (one encoding per share) with K and x in range.
func FuzzParseShare(f *testing.F) {
	v, _ := fuzzVector(f)
	for _, vs := range v.Shares {
		f.Add([]byte(vs.Share))
		f.Add([]byte(vs.Share[:ShareSize-1]))
	}
	f.Add([]byte{})
	f.Add(append([]byte{0x02}, v.Shares[0].Share[1:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseShare(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Bytes(), b) || s.Threshold() < MinThreshold || s.Threshold() > s.Total() || s.Index() < 1 || s.Index() > s.Total() {
			t.Fatalf("parsed %x into a share that is not it", b)
		}
	})
}

// FuzzParseSet: no input panics or allocates beyond its size, and whatever
// parses re-encodes to the same bytes.
func FuzzParseSet(f *testing.F) {
	v, _ := fuzzVector(f)
	f.Add([]byte(v.Set))
	f.Add([]byte(v.Set[:len(v.Set)-1]))
	f.Add(append(bytes.Clone(v.Set), 0))
	f.Add([]byte{0x01, 0x05, 'a', 'l', 'i', 'c', 'e'})
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := ParseSet(b)
		if err != nil {
			return
		}
		if !bytes.Equal(set.Bytes(), b) || set.Threshold() < MinThreshold || set.Threshold() > set.Total() {
			t.Fatalf("parsed %x into a set that is not it", b)
		}
	})
}

// FuzzCombine: shares cut from the input (ShareSize bytes each) never
// panic Combine against the stored set, and Combine returns the stored
// secret or nothing: no input makes it produce any other value. A refusal
// names at least one share or says more are needed.
func FuzzCombine(f *testing.F) {
	v, set := fuzzVector(f)
	all := bytes.Join([][]byte{v.Shares[0].Share, v.Shares[2].Share, v.Shares[4].Share}, nil)
	f.Add(all)
	f.Add(all[:2*ShareSize])
	f.Add(append(bytes.Clone(all), v.Shares[2].Share...))
	tampered := bytes.Clone(all)
	tampered[ShareSize+30] ^= 1
	f.Add(tampered)
	f.Fuzz(func(t *testing.T, b []byte) {
		var in []Share
		for len(b) >= ShareSize && len(in) <= MaxShares {
			if s, err := ParseShare(b[:ShareSize]); err == nil {
				in = append(in, s)
			}
			b = b[ShareSize:]
		}
		got, err := Combine(set, in)
		if err == nil {
			if !bytes.Equal(got, v.Secret) {
				t.Fatalf("combined %x, not the secret", got)
			}
			return
		}
		ce, ok := err.(*CombineError)
		if got != nil || !ok || (len(ce.Bad) == 0 && ce.More() == 0) {
			t.Fatalf("refusal %v with %x", err, got)
		}
	})
}
