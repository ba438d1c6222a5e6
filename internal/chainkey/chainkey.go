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
	var st stepper
	st.step(ck, &mk, &next)
	return mk, next
}

// stepper holds Step's scratch, so that the MAC's key, inputs and
// outputs, passed through interfaces, need no allocation each and leave
// the caller's keys on its stack.
type stepper struct {
	key [Size]byte
	in  [1]byte
	out [sha256.Size]byte
}

func (st *stepper) step(ck, mk, next *[Size]byte) {
	copy(st.key[:], ck[:])
	h := newMAC(st.key[:])
	clear(st.key[:]) // the HMAC keeps its own padded copies
	st.in[0] = MessageByte
	h.Write(st.in[:])
	copy(mk[:], h.Sum(st.out[:0]))
	h.Reset()
	st.in[0] = NextByte
	h.Write(st.in[:])
	copy(next[:], h.Sum(st.out[:0]))
	clear(st.out[:])
}

// newMAC returns HMAC-SHA256 (crypto/hmac) keyed with key, on a SHA-256
// whose state cannot be encoded: crypto/hmac then restarts the MAC after
// Reset by hashing the padded key again (one block) instead of encoding
// both padded states on the first Reset (two allocations and one more
// block), the cheaper way for a key used for two MACs, as every key here
// is.
func newMAC(key []byte) hash.Hash { return hmac.New(newPlainSHA256, key) }

// plainSHA256 is crypto/sha256 without its BinaryMarshaler methods.
type plainSHA256 struct{ hash.Hash }

func newPlainSHA256() hash.Hash { return plainSHA256{sha256.New()} }

// Expander turns message keys into AEADs: HKDF(salt = 0^32, ikm = mk,
// info = label, 44) = AES-256 key || nonce. The nonce is fixed per key,
// which is safe only because each message key seals exactly one message.
type Expander struct {
	// info1 is label || 0x01, the input of HKDF-Expand's first block.
	info1 []byte
	// ext runs HKDF-Extract, HMAC(salt, ikm) by definition (RFC 5869): an
	// HMAC keyed once with the constant zero salt and Reset after each use
	// saves building one per message, the largest allocation on this path.
	ext hash.Hash
	// Scratch for HKDF-Expand, wiped after each use: T(1) || label ||
	// 0x02 (the second block's input), and the MAC outputs.
	in2  []byte
	prk  [sha256.Size]byte
	okm  [2 * sha256.Size]byte
	salt [Size]byte
}

// NewExpander returns an Expander for the spec label of one protocol.
func NewExpander(label string) *Expander {
	e := &Expander{info1: append([]byte(label), 0x01)}
	e.in2 = make([]byte, sha256.Size+len(label)+1)
	e.ext = hmac.New(sha256.New, e.salt[:])
	return e
}

// AEAD returns the AES-256-GCM instance and nonce of message key mk.
func (e *Expander) AEAD(mk *[Size]byte) (cipher.AEAD, []byte) {
	// Copied first: passed through the hash interface, mk itself would
	// escape, and its caller's copy with it.
	copy(e.prk[:], mk[:])
	e.ext.Write(e.prk[:])
	e.ext.Sum(e.prk[:0])
	e.ext.Reset() // restores the salt-only state, overwriting mk in its buffers
	e.expand()
	block, err := aes.NewCipher(e.okm[:Size])
	if err != nil {
		panic("chainkey: AES key size: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("chainkey: GCM: " + err.Error())
	}
	// The key now lives only in the cipher's schedule; wipe our copies.
	var nonce [NonceSize]byte
	copy(nonce[:], e.okm[Size:])
	clear(e.okm[:])
	return aead, nonce[:]
}

// expand is HKDF-Expand(prk, label, 44) (RFC 5869) into e.okm: T(1) =
// HMAC(prk, label || 0x01), T(2) = HMAC(prk, T(1) || label || 0x02), on
// one HMAC, which crypto/hkdf builds afresh with its output buffers per
// call. It wipes prk.
func (e *Expander) expand() {
	h := newMAC(e.prk[:])
	clear(e.prk[:])
	h.Write(e.info1)
	t1 := h.Sum(e.okm[:0])
	copy(e.in2, t1)
	copy(e.in2[sha256.Size:], e.info1)
	e.in2[len(e.in2)-1] = 0x02
	h.Reset()
	h.Write(e.in2)
	h.Sum(e.okm[sha256.Size:sha256.Size])
	clear(e.in2[:sha256.Size])
}
