// Package chainkey is the symmetric-key chain hush's 1:1 ratchet (SPEC §5)
// and group sender keys (SPEC §12) share: one HMAC step gives a message key
// and the next chain key, and a message key expands into an AES-256-GCM key
// and nonce used for exactly one message.
//
// The package is pure (no network, disk or clock). An Expander is not safe
// for concurrent use.
package chainkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
)

// Spec constants.
const (
	MessageByte = 0x01 // mk  = HMAC(ck, 0x01)
	NextByte    = 0x02 // ck' = HMAC(ck, 0x02)

	Size      = 32 // chain and message keys
	NonceSize = 12 // AES-GCM standard nonce
	TagSize   = 16 // AES-GCM tag
)

// Step returns the message key at the chain's position and the next chain
// key. The caller wipes both when done.
func Step(ck *[Size]byte) (mk, next [Size]byte) {
	h := hmac.New(sha256.New, ck[:])
	h.Write([]byte{MessageByte})
	h.Sum(mk[:0])
	h.Reset()
	h.Write([]byte{NextByte})
	h.Sum(next[:0])
	return mk, next
}

// Expander turns message keys into AEADs: HKDF(salt = 0^32, ikm = mk,
// info = label, 44) = AES-256 key || nonce. The nonce is fixed per key,
// which is safe only because each message key seals exactly one message.
type Expander struct {
	label string
	// ext runs HKDF-Extract, HMAC(salt, ikm) by definition (RFC 5869): an
	// HMAC keyed once with the constant zero salt and Reset after each use
	// saves building one per message, the largest allocation on this path.
	ext hash.Hash
}

// NewExpander returns an Expander for the spec label of one protocol.
func NewExpander(label string) *Expander {
	var zeroSalt [Size]byte
	return &Expander{label: label, ext: hmac.New(sha256.New, zeroSalt[:])}
}

// AEAD returns the AES-256-GCM instance and nonce of message key mk.
func (e *Expander) AEAD(mk *[Size]byte) (cipher.AEAD, []byte) {
	e.ext.Write(mk[:])
	var prk [sha256.Size]byte
	e.ext.Sum(prk[:0])
	e.ext.Reset() // restores the salt-only state, overwriting mk in its buffers
	out, err := hkdf.Expand(sha256.New, prk[:], e.label, Size+NonceSize)
	clear(prk[:])
	if err != nil {
		panic("chainkey: HKDF failed: " + err.Error()) // only lengths above 255×32 fail
	}
	block, err := aes.NewCipher(out[:Size])
	if err != nil {
		panic("chainkey: AES key size: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("chainkey: GCM: " + err.Error())
	}
	// The key now lives only in the cipher's schedule; wipe our copy.
	clear(out[:Size])
	return aead, out[Size:]
}
