// Package envelope implements hush's sealed-sender envelopes: every message
// to a device travels inside an HPKE envelope sealed to that device's
// envelope key, so the relay that stores and forwards it learns the
// recipient device (from where it delivers) and a padded length, and nothing
// else: not the sender, not the content, not the exact size.
//
// Two forms exist. A sealed envelope (Seal, Open) carries one Content to one
// device. A multi-recipient envelope (SealMulti, Multi, OpenDelivery) carries
// one Content to many devices: the Content is encrypted once under a fresh
// content key, and the key is wrapped for each device in a fixed-size slot
// that names nobody. The relay hands each device its own slot plus the
// shared body (a delivery).
//
// The package promises:
//   - confidentiality and integrity of Content against everyone but the
//     sender and the recipient devices (HPKE base mode, X-Wing KEM, so also
//     against a future quantum adversary recording traffic);
//   - a recipient accepts a sealed envelope only if the Content names it, and
//     a delivery only if the Content names no single recipient, so a peer
//     cannot re-seal a message meant for someone else to a third party;
//   - a slot opens only with the body it was made for;
//   - strict decoding: typed errors, sizes checked before allocation or any
//     public-key operation, one encoding per value.
//
// It does not authenticate the sender: Content.Sender is a claim that the
// layer above checks against the session the Payload belongs to. It does not
// detect replays: receivers dedupe on Content.MessageID.
//
// The package is pure (no I/O, no clock) and safe for concurrent use.
package envelope

import (
	"crypto/hpke"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/wire"
)

// Spec labels and constants.
const (
	sealedInfo = "hush/v1 sealed envelope" // HPKE info of a sealed envelope

	// KEMID is the HPKE KEM every envelope key must use: MLKEM768-X25519
	// (X-Wing), from draft-ietf-hpke-pq.
	KEMID = 0x647a
	// EncLen is the length of an X-Wing encapsulated key.
	EncLen = 1120
	// PublicKeyLen is the length of an X-Wing public key.
	PublicKeyLen = 1216

	tagLen = 16 // AES-256-GCM tag

	// SealedVersion is the first byte of a sealed envelope. A delivery
	// starts with DeliveryVersion instead, so a device can tell the two
	// apart in its mailbox.
	SealedVersion = 0x01

	// MaxEnvelope is the largest sealed envelope or delivery Open and
	// OpenDelivery look at; anything larger is refused before any crypto.
	MaxEnvelope = 1<<20 + 128<<10
)

// Errors besides *wire.Error. Check them with errors.Is.
var (
	// ErrAuth: the envelope did not decrypt with this key. It was tampered
	// with, sealed to another key, or (for a delivery) its slot belongs to
	// another body.
	ErrAuth = errors.New("hush/envelope: message authentication failed")
	// ErrWrongRecipient: the envelope decrypted, but its Content is
	// addressed to someone else (or, for a delivery, to a single
	// recipient): a re-sealed message.
	ErrWrongRecipient = errors.New("hush/envelope: content addressed to another recipient")
	// ErrKeyType: a key is missing or is not an X-Wing (KEM 0x647a) key.
	ErrKeyType = errors.New("hush/envelope: key is not an MLKEM768-X25519 HPKE key")
	// ErrInvalid: an argument is outside what the format allows (an empty
	// user name, type 0, an oversized payload, no recipients, ...).
	ErrInvalid = errors.New("hush/envelope: invalid argument")
)

var (
	suiteKDF  = hpke.HKDFSHA256()
	suiteAEAD = hpke.AES256GCM()
)

func checkPublicKey(pk hpke.PublicKey) error {
	if pk == nil {
		return fmt.Errorf("%w: nil public key", ErrKeyType)
	}
	if id := pk.KEM().ID(); id != KEMID {
		return fmt.Errorf("%w: public key has KEM 0x%04x", ErrKeyType, id)
	}
	return nil
}

func checkPrivateKey(k hpke.PrivateKey) error {
	if k == nil {
		return fmt.Errorf("%w: nil private key", ErrKeyType)
	}
	if id := k.KEM().ID(); id != KEMID {
		return fmt.Errorf("%w: private key has KEM 0x%04x", ErrKeyType, id)
	}
	return nil
}

// Seal encrypts c to the device whose envelope key is to. c.Recipient must
// name that device: Open refuses content addressed elsewhere. The envelope's
// length depends only on PaddedLen of c's encoding.
func Seal(to hpke.PublicKey, c *Content) ([]byte, error) {
	if err := checkPublicKey(to); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("%w: nil content", ErrInvalid)
	}
	if c.Recipient.isZero() {
		return nil, fmt.Errorf("%w: sealed content must name its recipient", ErrInvalid)
	}
	pt, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return sealPadded(to, pt)
}

// sealPadded seals an already padded content encoding. Tests use it to build
// envelopes Seal would refuse to make.
func sealPadded(to hpke.PublicKey, pt []byte) ([]byte, error) {
	enc, s, err := hpke.NewSender(to, suiteKDF, suiteAEAD, []byte(sealedInfo))
	if err != nil {
		return nil, fmt.Errorf("hush/envelope: hpke: %w", err)
	}
	out := make([]byte, 0, 1+len(enc)+len(pt)+tagLen)
	out = append(out, SealedVersion)
	out = append(out, enc...)
	aad := out[:1] // the version byte
	ct, err := s.Seal(aad, pt)
	if err != nil {
		return nil, fmt.Errorf("hush/envelope: hpke: %w", err)
	}
	return append(out, ct...), nil
}

// Open decrypts a sealed envelope with the device's envelope key priv and
// returns its Content. It refuses content whose Recipient is not self
// (ErrWrongRecipient): that stops a relay or a malicious peer from
// re-sealing to this device a message meant for someone else. The returned
// Content is plaintext; the caller owns its secrecy.
func Open(priv hpke.PrivateKey, self Address, envelope []byte) (*Content, error) {
	const name = "sealed envelope"
	// Size first, before any allocation or decapsulation: a DoS bound.
	if len(envelope) > MaxEnvelope {
		return nil, wire.Errorf(name, "", wire.ErrTooLarge, "%d bytes, limit %d", len(envelope), MaxEnvelope)
	}
	if err := checkPrivateKey(priv); err != nil {
		return nil, err
	}
	if err := checkAddress("self", self); err != nil {
		return nil, err
	}
	r := wire.NewReader(name, envelope)
	r.Version(SealedVersion)
	enc := r.Fixed("enc", EncLen)
	ct := r.Rest()
	if err := r.Err(); err != nil {
		return nil, err
	}
	// The ciphertext must be a bucket plus a tag: anything else was not
	// made by Seal, and is refused without spending a decapsulation on it.
	if len(ct) < minBucket+tagLen {
		return nil, wire.Errorf(name, "ciphertext", wire.ErrTruncated, "%d bytes", len(ct))
	}
	if !isBucket(len(ct) - tagLen) {
		return nil, wire.Errorf(name, "ciphertext", wire.ErrMalformed, "length %d is not a padding bucket", len(ct))
	}
	rcpt, err := hpke.NewRecipient(enc, priv, suiteKDF, suiteAEAD, []byte(sealedInfo))
	if err != nil {
		return nil, ErrAuth
	}
	pt, err := rcpt.Open(envelope[:1], ct)
	if err != nil {
		return nil, ErrAuth
	}
	c, err := parseContent(pt)
	if err != nil {
		clear(pt)
		return nil, err
	}
	if c.Recipient != self {
		clear(pt)
		return nil, ErrWrongRecipient
	}
	return c, nil
}
