package pqxdh

import (
	"crypto/ecdh"
	"crypto/mlkem"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/wire"
)

// Encoding sizes and versions (doc/SPEC.md §4.2).
const (
	SignedPreKeySize  = 4 + 32 + identity.SignatureSize
	OneTimePreKeySize = 4 + 32
	KEMPreKeySize     = 4 + 1 + mlkem.EncapsulationKeySize768 + identity.SignatureSize
	// KEMCiphertextSize is the size of the ML-KEM-768 ciphertext in a
	// prekey message.
	KEMCiphertextSize = mlkem.CiphertextSize768
	// MaxInnerMessage bounds the ratchet message a prekey message carries.
	MaxInnerMessage = 1<<20 + 64

	versionBundle     = 0x01
	versionPreKeyMsg  = 0x01
	preKeyHeaderBytes = 1 + identity.DeviceCertSize + 4 + 4 + 4 + 32 + KEMCiphertextSize
)

func (p *SignedPreKey) encode(w *wire.Writer) {
	w.U32(p.ID)
	w.Fixed(p.Public.Bytes())
	w.Fixed(p.Signature)
}

func decodeSignedPreKey(r *wire.Reader) SignedPreKey {
	id := r.U32("signed_prekey.id")
	pub := r.Fixed("signed_prekey.public", 32)
	sig := r.Fixed("signed_prekey.signature", identity.SignatureSize)
	if r.Err() != nil {
		return SignedPreKey{}
	}
	if id == 0 {
		r.Fail("signed_prekey.id", wire.ErrMalformed, "id 0 is reserved")
	}
	k, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		r.Fail("signed_prekey.public", wire.ErrMalformed, "invalid X25519 key")
	}
	return SignedPreKey{ID: id, Public: k, Signature: append([]byte(nil), sig...)}
}

func (p *OneTimePreKey) encode(w *wire.Writer) {
	w.U32(p.ID)
	w.Fixed(p.Public.Bytes())
}

func decodeOneTimePreKey(r *wire.Reader) OneTimePreKey {
	id := r.U32("one_time_prekey.id")
	pub := r.Fixed("one_time_prekey.public", 32)
	if r.Err() != nil {
		return OneTimePreKey{}
	}
	if id == 0 {
		r.Fail("one_time_prekey.id", wire.ErrMalformed, "id 0 is reserved")
	}
	k, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		r.Fail("one_time_prekey.public", wire.ErrMalformed, "invalid X25519 key")
	}
	return OneTimePreKey{ID: id, Public: k}
}

func (p *KEMPreKey) encode(w *wire.Writer) {
	w.U32(p.ID)
	w.U8(uint8(p.Kind))
	w.Fixed(p.Public.Bytes())
	w.Fixed(p.Signature)
}

func decodeKEMPreKey(r *wire.Reader) KEMPreKey {
	id := r.U32("kem_prekey.id")
	kind := KEMKind(r.U8("kem_prekey.kind"))
	ek := r.Fixed("kem_prekey.public", mlkem.EncapsulationKeySize768)
	sig := r.Fixed("kem_prekey.signature", identity.SignatureSize)
	if r.Err() != nil {
		return KEMPreKey{}
	}
	if id == 0 {
		r.Fail("kem_prekey.id", wire.ErrMalformed, "id 0 is reserved")
	}
	if kind != KEMOneTime && kind != KEMLastResort {
		r.Fail("kem_prekey.kind", wire.ErrMalformed, "unknown kind")
	}
	// NewEncapsulationKey768 checks the key is well-formed (coefficients
	// reduced), the FIPS 203 input check that stops malformed-key attacks.
	k, err := mlkem.NewEncapsulationKey768(ek)
	if err != nil {
		r.Fail("kem_prekey.public", wire.ErrMalformed, "invalid ML-KEM-768 key")
	}
	return KEMPreKey{ID: id, Kind: kind, Public: k, Signature: append([]byte(nil), sig...)}
}

// Marshal encodes a signed prekey: u32 id || public (32) || signature (64).
func (p *SignedPreKey) Marshal() []byte {
	w := wire.NewWriter(make([]byte, 0, SignedPreKeySize))
	p.encode(w)
	return w.Bytes()
}

// ParseSignedPreKey decodes a signed prekey. It does not verify the
// signature: that needs the owner's identity (see Verify).
func ParseSignedPreKey(b []byte) (*SignedPreKey, error) {
	r := wire.NewReader("signed prekey", b)
	p := decodeSignedPreKey(r)
	if err := r.Done(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Marshal encodes a one-time prekey: u32 id || public (32).
func (p *OneTimePreKey) Marshal() []byte {
	w := wire.NewWriter(make([]byte, 0, OneTimePreKeySize))
	p.encode(w)
	return w.Bytes()
}

// ParseOneTimePreKey decodes a one-time prekey.
func ParseOneTimePreKey(b []byte) (*OneTimePreKey, error) {
	r := wire.NewReader("one-time prekey", b)
	p := decodeOneTimePreKey(r)
	if err := r.Done(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Marshal encodes a KEM prekey: u32 id || u8 kind || public (1184) ||
// signature (64).
func (p *KEMPreKey) Marshal() []byte {
	w := wire.NewWriter(make([]byte, 0, KEMPreKeySize))
	p.encode(w)
	return w.Bytes()
}

// ParseKEMPreKey decodes a KEM prekey without verifying its signature.
func ParseKEMPreKey(b []byte) (*KEMPreKey, error) {
	r := wire.NewReader("kem prekey", b)
	p := decodeKEMPreKey(r)
	if err := r.Done(); err != nil {
		return nil, err
	}
	return &p, nil
}
