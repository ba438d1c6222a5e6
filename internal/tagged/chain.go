package tagged

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"sync/atomic"
)

// The key schedule of a continuable epoch (doc/SPEC.md §14.3).

// chainSteps counts continuable chain steps derived, for tests that check
// that a junk tag costs none.
var chainSteps atomic.Uint64

// epochKeys derives a continuable epoch's tag key and first chain key.
func epochKeys(epoch uint32, seed *[seedLen]byte) (tk, ck0 [32]byte) {
	prk, err := hkdf.Extract(sha256.New, seed[:], make([]byte, 32))
	if err != nil {
		panic("hush/tagged: hkdf: " + err.Error())
	}
	defer clear(prk)
	expand := func(label string, out *[32]byte) {
		var info [32]byte
		n := copy(info[:], label)
		binary.BigEndian.PutUint32(info[n:], epoch)
		k, err := hkdf.Expand(sha256.New, prk, string(info[:n+4]), 32)
		if err != nil {
			panic("hush/tagged: hkdf: " + err.Error())
		}
		copy(out[:], k)
		clear(k)
	}
	expand(tagKeyLabel, &tk)
	expand(chainLabel, &ck0)
	return tk, ck0
}

// step2 advances a continuable chain key: it returns ck_{i+1} and key_i.
func step2(ck *[32]byte) (next, key [32]byte) {
	chainSteps.Add(1)
	out, err := hkdf.Expand(sha256.New, ck[:], keyStepLabel, step2Len)
	if err != nil {
		panic("hush/tagged: hkdf: " + err.Error())
	}
	copy(next[:], out[0:32])
	copy(key[:], out[32:])
	clear(out)
	return next, key
}

// tagCipher returns the block cipher under a tag key.
func tagCipher(tk *[32]byte) cipher.Block {
	b, err := aes.NewCipher(tk[:])
	if err != nil {
		panic("hush/tagged: aes: " + err.Error())
	}
	return b
}

// tagAt is tag_i = AES-256(tk, u64(i) || 0^8).
func tagAt(b cipher.Block, i uint32) Tag {
	var in, t Tag
	binary.BigEndian.PutUint64(in[:8], uint64(i))
	b.Encrypt(t[:], in[:])
	return t
}

// positionOf inverts tagAt: the position whose tag g is, if g is one of
// this epoch's tags (the last 8 bytes of its decryption are zero, which a
// tag of another key or a made-up one is with probability 2^-64).
func positionOf(b cipher.Block, g *Tag) (uint32, bool) {
	var pt Tag
	b.Decrypt(pt[:], g[:])
	if binary.BigEndian.Uint64(pt[8:]) != 0 {
		return 0, false
	}
	i := binary.BigEndian.Uint64(pt[:8])
	if i >= MaxPosition {
		return 0, false
	}
	return uint32(i), true
}
