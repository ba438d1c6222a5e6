package ratchet

import (
	"crypto/hkdf"
	"crypto/sha256"
	"github.com/hush-chat/hush/internal/chainkey"
)

// Spec labels, verbatim (HKDF info strings).
const (
	labelRoot    = "hush/v1 ratchet root"
	labelMessage = "hush/v1 ratchet message"
)

// Sizes; the chain step and message-key expansion are chainkey's.
const (
	keySize = chainkey.Size    // root, chain and message keys; X25519 keys
	tagSize = chainkey.TagSize // AES-GCM tag
)

// kdfRoot is KDF_RK: HKDF(salt=rk, ikm=dhOut, info=labelRoot, 64), split
// into the new root key and a new chain key.
func kdfRoot(rk *[keySize]byte, dhOut []byte) (newRK, ck [keySize]byte) {
	salt := saltOf(rk)
	out, err := hkdf.Key(sha256.New, dhOut, salt, labelRoot, 2*keySize)
	clear(salt)
	if err != nil {
		// Only an output length above 255*32 bytes can fail.
		panic("ratchet: HKDF failed: " + err.Error())
	}
	copy(newRK[:], out[:keySize])
	copy(ck[:], out[keySize:])
	clear(out)
	return newRK, ck
}

// saltOf returns a copy of rk to key HKDF with: crypto/hkdf keeps its
// salt argument beyond the call, as far as the compiler can tell, and
// would take the State holding rk to the heap with it. The caller wipes
// the copy.
func saltOf(rk *[keySize]byte) []byte {
	return append(make([]byte, 0, keySize), rk[:]...)
}

// seal appends the AES-256-GCM encryption of plaintext to dst.
func seal(ext *chainkey.Expander, mk *[keySize]byte, dst, plaintext, ad []byte) []byte {
	aead, nonce := ext.AEAD(mk)
	return aead.Seal(dst, nonce, plaintext, ad)
}

// open authenticates and decrypts ciphertext, appending to dst.
func open(ext *chainkey.Expander, mk *[keySize]byte, dst, ciphertext, ad []byte) ([]byte, error) {
	aead, nonce := ext.AEAD(mk)
	return aead.Open(dst, nonce, ciphertext, ad)
}
