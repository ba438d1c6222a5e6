package pqxdh

import (
	"crypto/ecdh"
	"fmt"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/wire"
)

// Bundle is what the directory hands an initiator for one device: the
// device certificate (which names the identity key), a signed prekey, a
// signed ML-KEM prekey and, while any remain, one one-time prekey.
//
// ParseBundle verifies every signature, so a *Bundle obtained from it is
// internally consistent. Whether its identity key is the one the initiator
// expects for that user is the caller's check (contact verification).
type Bundle struct {
	Device       *identity.DeviceCert
	SignedPreKey SignedPreKey
	KEMPreKey    KEMPreKey
	OneTime      *OneTimePreKey // nil when the device has none left
}

// Marshal encodes the bundle: u8 version || device certificate ||
// signed prekey || KEM prekey || u8 has_one_time || [one-time prekey].
func (b *Bundle) Marshal() []byte {
	w := wire.NewWriter(nil)
	w.U8(versionBundle)
	w.Fixed(b.Device.Marshal())
	b.SignedPreKey.encode(w)
	b.KEMPreKey.encode(w)
	if b.OneTime == nil {
		w.U8(0)
	} else {
		w.U8(1)
		b.OneTime.encode(w)
	}
	return w.Bytes()
}

// ParseBundle decodes a bundle and verifies the device certificate and both
// prekey signatures.
func ParseBundle(b []byte) (*Bundle, error) {
	r := wire.NewReader("prekey bundle", b)
	r.Version(versionBundle)
	certb := r.Fixed("device", identity.DeviceCertSize)
	spk := decodeSignedPreKey(r)
	kem := decodeKEMPreKey(r)
	var otp *OneTimePreKey
	switch has := r.U8("has_one_time"); has {
	case 0:
	case 1:
		p := decodeOneTimePreKey(r)
		otp = &p
	default:
		// Only 0 and 1 are allowed, so each bundle has one encoding.
		r.Fail("has_one_time", wire.ErrMalformed, "must be 0 or 1")
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	cert, err := identity.ParseDeviceCert(certb)
	if err != nil {
		return nil, fmt.Errorf("hush: prekey bundle: %w", err)
	}
	bundle := &Bundle{Device: cert, SignedPreKey: spk, KEMPreKey: kem, OneTime: otp}
	if err := bundle.Verify(); err != nil {
		return nil, err
	}
	return bundle, nil
}

// Verify checks both prekey signatures against the certificate's identity
// key and device id. A directory (or anyone on the path) that substitutes
// its own prekeys to read the first messages is caught here.
func (b *Bundle) Verify() error {
	if err := b.SignedPreKey.Verify(b.Device.Identity, b.Device.Device); err != nil {
		return fmt.Errorf("hush: prekey bundle: signed prekey: %w", err)
	}
	if err := b.KEMPreKey.Verify(b.Device.Identity, b.Device.Device); err != nil {
		return fmt.Errorf("hush: prekey bundle: KEM prekey: %w", err)
	}
	return nil
}

// PreKeyHeader is what the initiator's first message carries so that the
// responder can run the same derivation: the initiator's device
// certificate, which prekeys were used, the initiator's ephemeral ("base")
// key and the ML-KEM ciphertext.
type PreKeyHeader struct {
	Initiator       *identity.DeviceCert
	SignedPreKeyID  uint32
	KEMPreKeyID     uint32
	OneTimePreKeyID uint32 // 0: no one-time prekey was used
	BaseKey         *ecdh.PublicKey
	KEMCiphertext   []byte
}

// PreKeyMessage is a PreKeyHeader followed by the first ratchet message,
// which stays opaque to this package.
type PreKeyMessage struct {
	Header  PreKeyHeader
	Message []byte
}

// Marshal encodes the message: u8 version || initiator certificate ||
// u32 signed prekey id || u32 KEM prekey id || u32 one-time prekey id ||
// base key (32) || KEM ciphertext (1088) || u32 len || ratchet message.
func (m *PreKeyMessage) Marshal() []byte {
	w := wire.NewWriter(make([]byte, 0, preKeyHeaderBytes+4+len(m.Message)))
	w.U8(versionPreKeyMsg)
	w.Fixed(m.Header.Initiator.Marshal())
	w.U32(m.Header.SignedPreKeyID)
	w.U32(m.Header.KEMPreKeyID)
	w.U32(m.Header.OneTimePreKeyID)
	w.Fixed(m.Header.BaseKey.Bytes())
	w.Fixed(m.Header.KEMCiphertext)
	w.Bytes32(m.Message)
	return w.Bytes()
}

// ParsePreKeyMessage decodes a prekey message and verifies the initiator's
// device certificate. The returned Message aliases b.
func ParsePreKeyMessage(b []byte) (*PreKeyMessage, error) {
	const name = "prekey message"
	r := wire.NewReader(name, b)
	r.Version(versionPreKeyMsg)
	certb := r.Fixed("initiator", identity.DeviceCertSize)
	spkID, kemID, otpID := r.U32("signed_prekey_id"), r.U32("kem_prekey_id"), r.U32("one_time_prekey_id")
	base := r.Fixed("base_key", 32)
	ct := r.Fixed("kem_ciphertext", KEMCiphertextSize)
	msg := r.Bytes32("message", MaxInnerMessage)
	if err := r.Done(); err != nil {
		return nil, err
	}
	if spkID == 0 || kemID == 0 {
		return nil, wire.Errorf(name, "prekey ids", wire.ErrMalformed, "id 0 is reserved")
	}
	baseKey, err := ecdh.X25519().NewPublicKey(base)
	if err != nil {
		return nil, wire.Errorf(name, "base_key", wire.ErrMalformed, "invalid X25519 key")
	}
	cert, err := identity.ParseDeviceCert(certb)
	if err != nil {
		return nil, fmt.Errorf("hush: prekey message: %w", err)
	}
	return &PreKeyMessage{
		Header: PreKeyHeader{Initiator: cert, SignedPreKeyID: spkID, KEMPreKeyID: kemID,
			OneTimePreKeyID: otpID, BaseKey: baseKey, KEMCiphertext: append([]byte(nil), ct...)},
		Message: msg,
	}, nil
}
