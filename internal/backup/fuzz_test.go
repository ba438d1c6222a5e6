package backup

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/testkit"
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

// fuzzVector is the stored known-answer backup with its backup key and
// recovery secret: fixed bytes, so corpus entries stay meaningful across
// runs and fuzzing workers, and no Argon2id run per input.
func fuzzVector(f *testing.F) (v vector, keyFor func(*Backup) *Key) {
	testkit.ReadJSON(f, vectorsPath, &v)
	var key Key
	copy(key.key[:], v.BackupKey)
	copy(key.salt[:], v.Salt)
	key.params = Params{Time: v.Time, MemoryKiB: v.MemoryKiB, Threads: v.Threads}
	// A client derives again for the header it got: the stored key for the
	// stored salt and parameters, another key for any other.
	return v, func(b *Backup) *Key {
		if b.salt == key.salt && b.params == key.params {
			return &key
		}
		return cheapKeyForBackup(b, v.Passphrase)
	}
}

// FuzzParse: Parse never panics, refuses with ErrMalformed, re-encodes
// what it accepts to the same bytes (one encoding per backup), and no
// input but the genuine backup opens on either path.
func FuzzParse(f *testing.F) {
	v, keyFor := fuzzVector(f)
	good := []byte(v.Backup)
	b, err := Parse(good)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := OpenWithKey(b, v.Username, keyFor(b)); err != nil {
		f.Fatal("the stored backup does not open with its stored key: ", err)
	}
	noRecovery := append(append(b.prefix(), 60), b.passWrap...)
	noRecovery = append(append(append(noRecovery, 0), b.tag[:]...), b.payload...)
	addSeeds(f, good, noRecovery, good[:prefixSize], good[:len(good)-1], withParams(b, Params{Time: 2, MemoryKiB: 1, Threads: 1}),
		append([]byte{2}, good[1:]...), nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		mb, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.Equal(mb.Bytes(), data) {
			t.Fatal("Parse accepted a second encoding")
		}
		if mb.Params().Check() != nil {
			t.Fatal("Parse accepted out-of-range parameters")
		}
		_, err1 := OpenWithKey(mb, v.Username, keyFor(mb))
		_, err2 := OpenWithRecovery(mb, v.Username, v.RecoverySecret)
		if (err1 == nil || err2 == nil) && !bytes.Equal(data, good) {
			t.Fatal("a backup nobody sealed opened")
		}
	})
}

// FuzzEvaluate: Evaluate never panics on any blinded element, refuses with
// ErrInvalid, and answers only for a canonical, non-identity element, with
// one that Finalize's decoder accepts in turn.
func FuzzEvaluate(f *testing.F) {
	key := mustServerKey(f, bytes.Repeat([]byte{7}, SecretSize), "alice")
	_, good, _ := blindWith([]byte("pw"), unhex("64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706"))
	seeds := [][]byte{good, good[:31], append(bytes.Clone(good), 0)}
	for _, c := range badElements {
		seeds = append(seeds, unhex(c.hex))
	}
	addSeeds(f, seeds...)
	f.Fuzz(func(t *testing.T, blinded []byte) {
		ev, err := Evaluate(key, blinded)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || ev != nil {
				t.Fatalf("refusal %v with output %x", err, ev)
			}
			return
		}
		if _, err := decodeElement("evaluated element", ev); err != nil {
			t.Fatalf("Evaluate answered an element Finalize refuses: %v", err)
		}
	})
}

// FuzzEvaluateKey: a key that is not a reduced, non-zero scalar is refused
// without a panic.
func FuzzEvaluateKey(f *testing.F) {
	key := mustServerKey(f, bytes.Repeat([]byte{7}, SecretSize), "alice")
	_, good, _ := Blind([]byte("pw"))
	addSeeds(f, key, make([]byte, 32), bytes.Repeat([]byte{0xff}, 32), key[:31],
		unhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010"))
	f.Fuzz(func(t *testing.T, k []byte) {
		if _, err := Evaluate(k, good); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
	})
}

// FuzzFinalize: Finalize never panics on any state or evaluated element,
// refuses with ErrInvalid, and gives an output of OutputSize bytes.
func FuzzFinalize(f *testing.F) {
	key := mustServerKey(f, bytes.Repeat([]byte{7}, SecretSize), "alice")
	state, blinded, _ := Blind([]byte("pw"))
	ev, _ := Evaluate(key, blinded)
	f.Add(state, ev)
	f.Add(state[:32], ev)
	f.Add(make([]byte, 33), ev)
	f.Add(state, make([]byte, 32))
	f.Add(state, ev[:31])
	f.Add([]byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, s, e []byte) {
		out, err := Finalize(s, e)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatal(err)
			}
			return
		}
		if len(out) != OutputSize {
			t.Fatalf("output of %d bytes", len(out))
		}
	})
}
