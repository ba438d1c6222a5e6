package ratchet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
)

// Spec labels, verbatim (HKDF info strings).
const (
	labelRoot    = "hush/v1 ratchet root"
	labelMessage = "hush/v1 ratchet message"
)

// Spec constants of the symmetric-key chain and the AEAD.
const (
	chainMessageByte = 0x01 // mk  = HMAC(ck, 0x01)
	chainNextByte    = 0x02 // ck' = HMAC(ck, 0x02)

	keySize   = 32 // root, chain and message keys; X25519 keys
	aeadKey   = 32 // AES-256
	nonceSize = 12 // AES-GCM standard nonce
	tagSize   = 16 // AES-GCM tag
)

// zeroSalt is the HKDF salt of the message-key expansion.
var zeroSalt [keySize]byte

// kdfRoot is KDF_RK: HKDF(salt=rk, ikm=dhOut, info=labelRoot, 64), split
// into the new root key and a new chain key.
func kdfRoot(rk *[keySize]byte, dhOut []byte) (newRK, ck [keySize]byte) {
	out, err := hkdf.Key(sha256.New, dhOut, rk[:], labelRoot, 2*keySize)
	if err != nil {
		// Only an output length above 255*32 bytes can fail.
		panic("ratchet: HKDF failed: " + err.Error())
	}
	copy(newRK[:], out[:keySize])
	copy(ck[:], out[keySize:])
	clear(out)
	return newRK, ck
}

// kdfChain is the chain KDF: the message key for the current position and
// the chain key for the next one. The caller wipes both when done.
func kdfChain(ck *[keySize]byte) (mk, next [keySize]byte) {
	h := hmac.New(sha256.New, ck[:])
	h.Write([]byte{chainMessageByte})
	h.Sum(mk[:0])
	h.Reset()
	h.Write([]byte{chainNextByte})
	h.Sum(next[:0])
	return mk, next
}

// messageAEAD expands a message key into its AES-256-GCM instance and
// nonce: HKDF(salt=32 zero bytes, ikm=mk, info=labelMessage, 44) = key ||
// nonce. The nonce is fixed per key, which is safe only because each message
// key seals exactly one message.
//
// The HKDF-Extract step, HMAC(salt, ikm) by definition (RFC 5869), runs on
// ext, an HMAC keyed once with the constant zero salt and Reset after each
// use: it saves building an HMAC per message, the largest allocation here.
func messageAEAD(ext hash.Hash, mk *[keySize]byte) (cipher.AEAD, []byte) {
	ext.Write(mk[:])
	var prk [sha256.Size]byte
	ext.Sum(prk[:0])
	ext.Reset() // restores the salt-only state, overwriting mk in its buffers
	out, err := hkdf.Expand(sha256.New, prk[:], labelMessage, aeadKey+nonceSize)
	clear(prk[:])
	if err != nil {
		panic("ratchet: HKDF failed: " + err.Error())
	}
	block, err := aes.NewCipher(out[:aeadKey])
	if err != nil {
		panic("ratchet: AES key size: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("ratchet: GCM: " + err.Error())
	}
	// The key now lives only in the cipher's schedule; wipe our copy.
	clear(out[:aeadKey])
	return aead, out[aeadKey:]
}

// newExtractor returns the HMAC keyed with the message-key HKDF salt.
func newExtractor() hash.Hash { return hmac.New(sha256.New, zeroSalt[:]) }

// seal appends the AES-256-GCM encryption of plaintext to dst.
func seal(ext hash.Hash, mk *[keySize]byte, dst, plaintext, ad []byte) []byte {
	aead, nonce := messageAEAD(ext, mk)
	return aead.Seal(dst, nonce, plaintext, ad)
}

// open authenticates and decrypts ciphertext into a new slice.
func open(ext hash.Hash, mk *[keySize]byte, ciphertext, ad []byte) ([]byte, error) {
	aead, nonce := messageAEAD(ext, mk)
	return aead.Open(nil, nonce, ciphertext, ad)
}
