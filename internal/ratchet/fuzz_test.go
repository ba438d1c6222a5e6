package ratchet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// loadVectors reads the checked-in vectors; fuzz seeds come from them so
// that a crasher reproduces against the same session in every process.
func loadVectors(f *testing.F) *vectorFile {
	f.Helper()
	b, err := os.ReadFile(vectorPath)
	if err != nil {
		f.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	return &v
}

// loadVectorsV2 reads the version 2 vectors.
func loadVectorsV2(f *testing.F) *vectorV2File {
	f.Helper()
	b, err := os.ReadFile(vectorV2Path)
	if err != nil {
		f.Fatal(err)
	}
	var v vectorV2File
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	return &v
}

func mustHex(f *testing.F, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func addSeeds(f *testing.F, seeds [][]byte) {
	f.Helper()
	// A fuzz target with no seeds explores nothing useful; refuse to run.
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s)
	}
}

func FuzzParseMessage(f *testing.F) {
	v := loadVectors(f)
	var seeds [][]byte
	for _, m := range v.Messages {
		seeds = append(seeds, mustHex(f, m.Message))
	}
	seeds = append(seeds, nil, []byte{1}, make([]byte, headerSize+tagSize), seeds[0][:headerSize+tagSize-1])
	// Version 2: key chunks (full and short), ciphertext chunks, acks,
	// mixing steps, plain messages.
	for _, m := range loadVectorsV2(f).Messages {
		seeds = append(seeds, mustHex(f, m.Message))
	}
	addSeeds(f, seeds)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Marshal(), b) {
			t.Fatal("Marshal(ParseMessage(b)) != b")
		}
	})
}

func FuzzUnmarshalState(f *testing.F) {
	v := loadVectors(f)
	v2 := loadVectorsV2(f)
	seeds := [][]byte{mustHex(f, v.InitiatorState), mustHex(f, v.ResponderState), mustHex(f, v2.InitiatorState), mustHex(f, v2.ResponderState)}
	seeds = append(seeds, seeds[0][:len(seeds[0])-5], append(bytes.Clone(seeds[1]), 0), nil, []byte{1})
	seeds = append(seeds, pqStateSeeds(f)...)
	addSeeds(f, seeds)
	f.Fuzz(func(t *testing.T, b []byte) {
		var s State
		if err := s.UnmarshalBinary(b); err != nil {
			return
		}
		again, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		// A version 1 encoding becomes version 2; version 2 is exact.
		if b[0] == stateV1 {
			var s2 State
			if err := s2.UnmarshalBinary(again); err != nil {
				t.Fatalf("re-encoded version 1 state refused: %v", err)
			}
			b = again
			again = marshal(t, &s2)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("MarshalBinary(UnmarshalBinary(b)) != b")
		}
	})
}

// FuzzDecrypt gives arbitrary bytes to a live session (the initiator's
// final state of the vectors, which holds a skipped key and a retired
// chain). Property: no panic, and a refused input leaves the state
// byte-for-byte unchanged.
func FuzzDecrypt(f *testing.F) {
	v := loadVectors(f)
	target := mustHex(f, v.InitiatorState)
	var bob State
	if err := bob.UnmarshalBinary(mustHex(f, v.ResponderState)); err != nil {
		f.Fatal(err)
	}
	// Bob's sending chain is ready, so these are deterministic: the current
	// chain in order, then one that skips ahead.
	seeds := [][]byte{mustHex(f, v.Messages[6].Message)}
	for _, pt := range []string{"n2", "n3", "n4", "n5 skips"} {
		m, err := bob.Encrypt([]byte(pt))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, m)
	}
	seeds = append(seeds, mustHex(f, v.Messages[7].Message), mustHex(f, v.Messages[3].Message), seeds[1][:headerSize])
	addSeeds(f, seeds)
	f.Fuzz(func(t *testing.T, b []byte) {
		var s State
		if err := s.UnmarshalBinary(target); err != nil {
			t.Fatal(err)
		}
		before := marshal(t, &s)
		if _, err := s.Decrypt(b); err == nil {
			return
		}
		if after := marshal(t, &s); !bytes.Equal(after, before) {
			t.Fatal("refused input changed the state")
		}
	})
}

// pqStateSeeds are states in every post-quantum phase.
func pqStateSeeds(f *testing.F) [][]byte {
	var out [][]byte
	alice, bob := newPair(f)
	note := func() {
		for _, s := range []*State{alice, bob} {
			b, err := s.MarshalBinary()
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	for i := range 40 {
		m, err := alice.Encrypt([]byte("a"))
		if err != nil {
			f.Fatal(err)
		}
		if _, err := bob.Decrypt(m); err != nil {
			f.Fatal(err)
		}
		if m, err = bob.Encrypt([]byte("b")); err != nil {
			f.Fatal(err)
		}
		if _, err := alice.Decrypt(m); err != nil {
			f.Fatal(err)
		}
		if i%4 == 0 {
			note()
		}
	}
	return out
}

// FuzzDecryptV2 is FuzzDecrypt for a version 2 state in the middle of an
// exchange (the responder's final state of the version 2 vectors).
func FuzzDecryptV2(f *testing.F) {
	v := loadVectorsV2(f)
	target := mustHex(f, v.ResponderState)
	var seeds [][]byte
	for _, m := range v.Messages {
		seeds = append(seeds, mustHex(f, m.Message))
	}
	addSeeds(f, seeds)
	f.Fuzz(func(t *testing.T, b []byte) {
		var s State
		if err := s.UnmarshalBinary(target); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decrypt(b); err == nil {
			return
		}
		if after := marshal(t, &s); !bytes.Equal(after, target) {
			t.Fatal("refused input changed the state")
		}
	})
}
