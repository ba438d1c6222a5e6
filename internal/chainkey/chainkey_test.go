package chainkey

import (
	"bytes"
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
	for range 2 { // the cached extractor must be reset between uses
		aead, nonce := e.AEAD(&mk)
		out, _ := hkdf.Key(sha256.New, mk[:], make([]byte, Size), "hush/v1 test", Size+NonceSize)
		if !bytes.Equal(nonce, out[Size:]) {
			t.Fatal("nonce is not the tail of the HKDF output")
		}
		ct := aead.Seal(nil, nonce, []byte("x"), nil)
		other, _ := NewExpander("hush/v1 other").AEAD(&mk)
		if _, err := other.Open(nil, nonce, ct, nil); err == nil {
			t.Fatal("the label does not separate the keys")
		}
	}
}
