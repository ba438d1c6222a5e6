// Package pqxdh implements hush's asynchronous session setup, modelled on
// Signal's PQXDH: X25519 Diffie-Hellman between identity, signed, one-time
// and ephemeral keys, combined with an ML-KEM-768 encapsulation to a signed
// KEM prekey, so that the session key stays secret unless both X25519 and
// ML-KEM-768 are broken.
//
// The package defines prekeys and their signatures, the bundle a directory
// serves, the header of an initiator's first message, the key derivation of
// both sides, and a Keyring holding a device's private prekeys that
// consumes each one-time prekey exactly once. It is pure: no network, disk
// or clock. The double ratchet that follows is another package's job; this
// one hands it a 32-byte shared key, the associated data and the
// responder's first ratchet key.
package pqxdh

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/wire"
)

// SharedKeySize is the size of the derived session key.
const SharedKeySize = 32

// ADSize is the size of the session associated data.
const ADSize = len(labelAD) + 1 + 2*(identity.IdentityKeySize+4+32)

var (
	// ErrKeyMismatch: the device certificate passed does not describe the
	// device private key passed (a caller bug, or a stale certificate).
	ErrKeyMismatch = errors.New("hush: device certificate does not match the device keys")
	// ErrPreKeyMismatch: the private prekeys given to Respond are not the
	// ones the header names.
	ErrPreKeyMismatch = errors.New("hush: prekeys do not match the prekey message")
	// ErrLowOrderKey: a Diffie-Hellman output was all zeros (a low-order
	// public key), which would let an attacker fix the shared key.
	ErrLowOrderKey = errors.New("hush: low-order public key")
)

// Initiation is the initiator's result: the shared key and associated data
// for the ratchet, the responder's signed prekey (the first remote ratchet
// key) and the header to send with the first message.
type Initiation struct {
	SharedKey        []byte // secret; wipe after initialising the ratchet
	AD               []byte
	RemoteRatchetKey *ecdh.PublicKey
	Header           PreKeyHeader
}

// Response is the responder's result.
type Response struct {
	SharedKey []byte // secret
	AD        []byte
}

// Initiate runs the initiator's side against a verified bundle (from
// ParseBundle, or one whose Verify returned nil). self and selfCert are the
// initiator's device keys and certificate.
func Initiate(self *identity.DevicePrivateKey, selfCert *identity.DeviceCert, b *Bundle) (*Initiation, error) {
	if !selfCert.Matches(self) {
		return nil, ErrKeyMismatch
	}
	if err := b.Verify(); err != nil {
		return nil, err
	}
	base, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ss, ct := b.KEMPreKey.Public.Encapsulate()
	dh1, err1 := self.DH().ECDH(b.SignedPreKey.Public)
	dh2, err2 := base.ECDH(b.Device.DH)
	dh3, err3 := base.ECDH(b.SignedPreKey.Public)
	var dh4 []byte
	var err4 error
	var otpID uint32
	var otpPub []byte
	if b.OneTime != nil {
		dh4, err4 = base.ECDH(b.OneTime.Public)
		otpID, otpPub = b.OneTime.ID, b.OneTime.Public.Bytes()
	}
	if errors.Join(err1, err2, err3, err4) != nil {
		return nil, ErrLowOrderKey
	}
	ad := sessionAD(selfCert, b.Device)
	t := transcript{ad: ad, spkID: b.SignedPreKey.ID, spk: b.SignedPreKey.Public.Bytes(),
		kemID: b.KEMPreKey.ID, kem: b.KEMPreKey.Public.Bytes(), otpID: otpID, otp: otpPub,
		base: base.PublicKey().Bytes(), ct: ct}
	sk, err := deriveKey(t, dh1, dh2, dh3, dh4, ss)
	if err != nil {
		return nil, err
	}
	return &Initiation{
		SharedKey: sk, AD: ad, RemoteRatchetKey: b.SignedPreKey.Public,
		Header: PreKeyHeader{Initiator: selfCert, SignedPreKeyID: b.SignedPreKey.ID,
			KEMPreKeyID: b.KEMPreKey.ID, OneTimePreKeyID: otpID,
			BaseKey: base.PublicKey(), KEMCiphertext: ct},
	}, nil
}

// Respond runs the responder's side. spk, kem and otp (nil when the header
// names no one-time prekey) must be the private prekeys the header names;
// a Keyring finds them. Respond changes nothing: consuming the one-time
// keys is the caller's step, taken only once the first message has
// authenticated (Keyring.Consume).
func Respond(self *identity.DevicePrivateKey, selfCert *identity.DeviceCert, h *PreKeyHeader,
	spk *SignedPreKeyPrivate, kem *KEMPreKeyPrivate, otp *OneTimePreKeyPrivate) (*Response, error) {
	if !selfCert.Matches(self) {
		return nil, ErrKeyMismatch
	}
	if spk == nil || kem == nil || spk.Public.ID != h.SignedPreKeyID || kem.Public.ID != h.KEMPreKeyID ||
		(h.OneTimePreKeyID == 0) != (otp == nil) || (otp != nil && otp.Public.ID != h.OneTimePreKeyID) {
		return nil, ErrPreKeyMismatch
	}
	ss, err := kem.Key.Decapsulate(h.KEMCiphertext)
	if err != nil {
		return nil, wire.Errorf("prekey message", "kem_ciphertext", wire.ErrMalformed, "bad ML-KEM ciphertext")
	}
	dh1, err1 := spk.Key.ECDH(h.Initiator.DH)
	dh2, err2 := self.DH().ECDH(h.BaseKey)
	dh3, err3 := spk.Key.ECDH(h.BaseKey)
	var dh4, otpPub []byte
	var err4 error
	if otp != nil {
		dh4, err4 = otp.Key.ECDH(h.BaseKey)
		otpPub = otp.Public.Public.Bytes()
	}
	if errors.Join(err1, err2, err3, err4) != nil {
		return nil, ErrLowOrderKey
	}
	ad := sessionAD(h.Initiator, selfCert)
	t := transcript{ad: ad, spkID: spk.Public.ID, spk: spk.Public.Public.Bytes(),
		kemID: kem.Public.ID, kem: kem.Public.Public.Bytes(), otpID: h.OneTimePreKeyID, otp: otpPub,
		base: h.BaseKey.Bytes(), ct: h.KEMCiphertext}
	sk, err := deriveKey(t, dh1, dh2, dh3, dh4, ss)
	if err != nil {
		return nil, err
	}
	return &Response{SharedKey: sk, AD: ad}, nil
}

// sessionAD binds both identities and both devices into every ratchet
// message: label || 0x00 || initiator (identity || u32 device || dh) ||
// responder (identity || u32 device || dh).
func sessionAD(initiator, responder *identity.DeviceCert) []byte {
	w := wire.NewWriter(make([]byte, 0, ADSize))
	w.Fixed([]byte(labelAD))
	w.U8(0)
	for _, c := range []*identity.DeviceCert{initiator, responder} {
		w.Fixed(c.Identity.Bytes())
		w.U32(c.Device)
		w.Fixed(c.DH.Bytes())
	}
	return w.Bytes()
}

// transcript is every public value of the exchange. Its hash goes into the
// KDF info, so the key depends on exactly which keys and ciphertext were
// used: a KEM ciphertext re-encapsulated to another key, or a prekey
// swapped for another with the same DH outputs, yields a different key.
type transcript struct {
	ad       []byte
	spkID    uint32
	spk      []byte
	kemID    uint32
	kem      []byte
	otpID    uint32
	otp      []byte // empty when none
	base, ct []byte
}

func (t transcript) hash() [32]byte {
	w := wire.NewWriter(nil)
	w.Fixed(t.ad)
	w.U32(t.spkID)
	w.Fixed(t.spk)
	w.U32(t.kemID)
	kh := sha256.Sum256(t.kem)
	w.Fixed(kh[:])
	w.U32(t.otpID)
	w.Bytes8(t.otp)
	w.Fixed(t.base)
	w.Fixed(t.ct)
	return sha256.Sum256(w.Bytes())
}

// deriveKey computes SK = HKDF(salt = 32 zero bytes, ikm = F || DH1 || DH2
// || DH3 || [DH4] || SS, info = label || 0x00 || SHA-256(transcript), 32),
// with F = 32 bytes of 0xFF as in X3DH/PQXDH.
func deriveKey(t transcript, dh1, dh2, dh3, dh4, ss []byte) ([]byte, error) {
	ikm := make([]byte, 0, 32*6)
	ikm = append(ikm, bytes.Repeat([]byte{0xff}, 32)...)
	ikm = append(ikm, dh1...)
	ikm = append(ikm, dh2...)
	ikm = append(ikm, dh3...)
	ikm = append(ikm, dh4...)
	ikm = append(ikm, ss...)
	th := t.hash()
	info := append(append([]byte(labelKDF), 0), th[:]...)
	sk, err := hkdf.Key(sha256.New, ikm, make([]byte, 32), string(info), SharedKeySize)
	clear(ikm)
	for _, b := range [][]byte{dh1, dh2, dh3, dh4, ss} {
		clear(b)
	}
	if err != nil {
		return nil, fmt.Errorf("hush: session key derivation: %w", err)
	}
	return sk, nil
}
