package group

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// loadVectors reads the checked-in vectors; fuzz seeds come from them.
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

func hexSeeds(f *testing.F, hs ...string) [][]byte {
	var out [][]byte
	for _, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func addSeeds(f *testing.F, seeds [][]byte) {
	f.Helper()
	// A fuzz target with no seeds explores nothing useful; refuse to run.
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s)
		if len(s) > 0 {
			f.Add(s[:len(s)-1])
		}
	}
	f.Add([]byte{})
	f.Add([]byte{1})
}

func FuzzParseState(f *testing.F) {
	addSeeds(f, hexSeeds(f, loadVectors(f).States...))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseState(b)
		if err == nil && !bytes.Equal(st.Marshal(), b) {
			t.Fatal("Marshal(ParseState(b)) != b")
		}
	})
}

func FuzzParseChange(f *testing.F) {
	v := loadVectors(f)
	addSeeds(f, hexSeeds(f, v.Changes...))
	states := hexSeeds(f, v.States...)
	st, err := ParseState(states[0])
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseChange(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.signed(), b[:len(b)-sigSize]) {
			t.Fatal("re-encoding differs from the input")
		}
		// Apply must refuse or accept without panicking, and never alter st.
		before := st.Hash()
		Apply(st, c)
		Apply(nil, c)
		if st.Hash() != before {
			t.Fatal("Apply altered its input state")
		}
	})
}

func FuzzParseJoinRequest(f *testing.F) {
	addSeeds(f, hexSeeds(f, loadVectors(f).JoinRequest))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := ParseJoinRequest(b)
		if err == nil && !bytes.Equal(j.Marshal(), b) {
			t.Fatal("Marshal(ParseJoinRequest(b)) != b")
		}
	})
}

func FuzzParseDistribution(f *testing.F) {
	addSeeds(f, hexSeeds(f, loadVectors(f).Distribution))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDistribution(b)
		if err == nil && !bytes.Equal(d.Marshal(), b) {
			t.Fatal("Marshal(ParseDistribution(b)) != b")
		}
	})
}

func FuzzSenderUnmarshal(f *testing.F) {
	addSeeds(f, hexSeeds(f, loadVectors(f).SenderState))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Sender
		if s.UnmarshalBinary(b) != nil {
			return
		}
		if out, _ := s.MarshalBinary(); !bytes.Equal(out, b) {
			t.Fatal("MarshalBinary(UnmarshalBinary(b)) != b")
		}
	})
}

// FuzzDecrypt feeds arbitrary messages to a Keyring holding the vector
// chain: no panic, and a refused message leaves the chain where it was.
func FuzzDecrypt(f *testing.F) {
	v := loadVectors(f)
	var seeds []string
	for _, m := range v.Messages {
		seeds = append(seeds, m.Message)
	}
	addSeeds(f, hexSeeds(f, seeds...))
	dist := hexSeeds(f, v.Distribution)[0]
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDistribution(dist)
		if err != nil {
			t.Fatal(err)
		}
		k := NewKeyring(d.GroupID)
		if err := k.Add(Address{User: "alice", Device: 1}, d); err != nil {
			t.Fatal(err)
		}
		id := chainID{from: Address{User: "alice", Device: 1}, key: d.KeyID}
		before := *k.chains[id]
		if _, err := k.Decrypt(b); err != nil && *k.chains[id] != before {
			t.Fatal("a refused message changed the chain")
		}
	})
}
