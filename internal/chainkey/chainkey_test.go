package chainkey

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// TestStepAndExpandFollowTheSpec recomputes both derivations with the
// primitives directly, as SPEC §5 and §12 write them.
func TestStepAndExpandFollowTheSpec(t *testing.T) {
	var ck [Size]byte
	for i := range ck {
		ck[i] = byte(i)
	}
	mk, next := Step(&ck)
	mac := func(b byte) []byte { h := hmac.New(sha256.New, ck[:]); h.Write([]byte{b}); return h.Sum(nil) }
	if !bytes.Equal(mk[:], mac(0x01)) || !bytes.Equal(next[:], mac(0x02)) || mk == next {
		t.Fatal("chain step does not match HMAC(ck, 0x01) / HMAC(ck, 0x02)")
	}
	e := NewExpander("hush/v1 test")
	for i := range 3 { // the cached extractor and scratch must be reset between uses
		mk[0] = byte(i)
		aead, nonce := e.AEAD(&mk)
		out, _ := hkdf.Key(sha256.New, mk[:], make([]byte, Size), "hush/v1 test", Size+NonceSize)
		if !bytes.Equal(nonce, out[Size:]) {
			t.Fatal("nonce is not the tail of the HKDF output")
		}
		ct := aead.Seal(nil, nonce, []byte("x"), nil)
		block, _ := aes.NewCipher(out[:Size])
		ref, _ := cipher.NewGCM(block)
		if !bytes.Equal(ct, ref.Seal(nil, out[Size:], []byte("x"), nil)) {
			t.Fatal("AES key is not the head of the HKDF output")
		}
		other, _ := NewExpander("hush/v1 other").AEAD(&mk)
		if _, err := other.Open(nil, nonce, ct, nil); err == nil {
			t.Fatal("the label does not separate the keys")
		}
	}
}

// An Expander keeps no key material between uses: its scratch holds
// only the label once AEAD returns (SPEC: message keys are deleted once
// used).
func TestExpanderWipesScratch(t *testing.T) {
	e := NewExpander("hush/v1 test")
	mk := [Size]byte{1, 2, 3}
	e.AEAD(&mk)
	if e.prk != [sha256.Size]byte{} || e.okm != [2 * sha256.Size]byte{} || !bytes.Equal(e.in2[:sha256.Size], make([]byte, sha256.Size)) {
		t.Fatal("Expander kept key material after AEAD")
	}
}

func BenchmarkStep(b *testing.B) {
	var ck [Size]byte
	b.ReportAllocs()
	for b.Loop() {
		mk, next := Step(&ck)
		ck = next
		_ = mk
	}
}

func BenchmarkAEAD(b *testing.B) {
	var mk [Size]byte
	e := NewExpander("hush/v1 test")
	b.ReportAllocs()
	for b.Loop() {
		aead, nonce := e.AEAD(&mk)
		_, _ = aead, nonce
	}
}
