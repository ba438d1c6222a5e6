// Package tagged implements version 2 of hush's 1:1 envelope (doc/SPEC.md
// §14): once two devices share a session, the receiving device hands its
// peer a batch of one-time tags and envelope keys (an Offer, carried inside
// a ratchet message), and the peer seals each message under the next key
// with the tag in front. The receiver finds the session by the tag with one
// table lookup (Table) and opens with AES-256-GCM: no public-key operation
// per message, 33 bytes of overhead instead of a sealed envelope's 1,137.
//
// The package promises:
//   - the relay sees the recipient mailbox, the padded length and a 16-byte
//     tag that is independent of every other tag, of the sender and of the
//     message's position; the sender's address stays encrypted;
//   - a key seals or opens one envelope and is then deleted; a sender's
//     chain only moves forward; a batch's seed is deleted once it is used;
//   - copy, then commit: Seal, Open and Offer return a new state and leave
//     the receiver's state untouched; a refused envelope (forged, truncated,
//     re-tagged, replayed, unknown) changes nothing;
//   - bounded state: a Receiver holds at most MaxEpochs batches of Window
//     positions, a Sender one chain position;
//   - strict decoding of envelopes, offers and states: typed errors, sizes
//     checked before allocation, one encoding per value.
//
// It does not authenticate Content.Sender beyond "one of the two devices
// holding the batch": the caller checks it against the session the tag
// belongs to and runs the ratchet on the payload.
//
// The package is pure (no I/O, no clock). States are values: methods never
// modify their receiver, so a state may be read concurrently. A Table is
// not safe for concurrent use.
package tagged

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/wire"
)

// Spec labels and constants (doc/SPEC.md §14.2).
const (
	epochLabel = "hush/v2 tagged epoch"
	stepLabel  = "hush/v2 tagged step"

	// Type is the first byte of a tagged envelope (0x01 sealed, 0x02
	// delivery, 0x03 group message, 0x04 sealed data).
	Type = 0x05
	// TagLen is the length of a tag.
	TagLen = 16
	// Window is the number of positions in one batch (epoch).
	Window = 64
	// MaxEpochs is the number of batches a Receiver holds.
	MaxEpochs = 2
	// RefillMark is the number of opened positions of the newest batch
	// after which NeedsOffer reports that the peer should get the next.
	RefillMark = Window / 2
	// Overhead is the length of a tagged envelope minus its padded content.
	Overhead = 1 + TagLen + gcmTagLen

	offerVersion = 0x01
	stateVersion = 0x01
	// OfferLen is the length of an encoded Offer.
	OfferLen = 1 + 4 + seedLen

	seedLen   = 32
	keyLen    = 32
	gcmTagLen = 16
	stepLen   = 32 + TagLen + keyLen // ck_{i+1} || tag_i || key_i

	minEnvelope = 1 + TagLen + 256 + gcmTagLen // the smallest bucket
)

// Errors besides *wire.Error. Check them with errors.Is.
var (
	// ErrUnknownTag: no batch of this state holds the envelope's tag.
	ErrUnknownTag = errors.New("hush/tagged: no session expects this tag")
	// ErrReplay: the tag's position already opened an envelope.
	ErrReplay = errors.New("hush/tagged: envelope already received")
	// ErrAuth: the envelope did not open under its tag's key.
	ErrAuth = errors.New("hush/tagged: message authentication failed")
	// ErrWrongRecipient: the content names another device.
	ErrWrongRecipient = errors.New("hush/tagged: content addressed to another recipient")
	// ErrNoPosition: the sender holds no unused position; seal a sealed
	// envelope (§6.4) instead.
	ErrNoPosition = errors.New("hush/tagged: no unused tag for this peer")
	// ErrStaleOffer: an offer older than, or conflicting with, the batch
	// the sender holds.
	ErrStaleOffer = errors.New("hush/tagged: stale or conflicting offer")
	// ErrInvalid: an argument outside what the format allows.
	ErrInvalid = errors.New("hush/tagged: invalid argument")
)

// Tag is the public label in front of a tagged envelope.
type Tag [TagLen]byte

// ParseTag checks an envelope's type and length (§14.5, steps 1–3) and
// returns its tag, without any cryptography: what a receive path needs to
// find the session in a Table.
func ParseTag(env []byte) (Tag, error) {
	var t Tag
	const name = "tagged envelope"
	switch {
	case len(env) > envelope.MaxEnvelope: // before anything else: DoS
		return t, wire.Errorf(name, "", wire.ErrTooLarge, "%d bytes", len(env))
	case len(env) == 0:
		return t, wire.Errorf(name, "type", wire.ErrTruncated, "empty")
	case env[0] != Type:
		return t, wire.Errorf(name, "type", wire.ErrVersion, "0x%02x", env[0])
	case len(env) < minEnvelope:
		return t, wire.Errorf(name, "ct", wire.ErrTruncated, "%d bytes", len(env))
	}
	// A length no sender makes costs no lookup and no AEAD.
	if p := len(env) - Overhead; envelope.PaddedLen(p) != p {
		return t, wire.Errorf(name, "ct", wire.ErrMalformed, "padded length %d is not a bucket", p)
	}
	copy(t[:], env[1:1+TagLen])
	return t, nil
}

// Offer is a batch handed from a receiver to its peer (§14.4). It is
// secret: it travels only as ratchet plaintext.
type Offer struct {
	Epoch uint32
	Seed  [seedLen]byte
}

// Marshal encodes o.
func (o *Offer) Marshal() []byte {
	w := wire.NewWriter(make([]byte, 0, OfferLen))
	w.U8(offerVersion)
	w.U32(o.Epoch)
	w.Fixed(o.Seed[:])
	return w.Bytes()
}

// ParseOffer decodes an offer strictly.
func ParseOffer(b []byte) (*Offer, error) {
	r := wire.NewReader("tagged offer", b)
	r.Version(offerVersion)
	o := &Offer{Epoch: r.U32("epoch")}
	copy(o.Seed[:], r.Fixed("seed", seedLen))
	if err := r.Done(); err != nil {
		return nil, err
	}
	if o.Epoch == 0 { // epoch 0 means "none" in a sender's state
		return nil, wire.Errorf("tagged offer", "epoch", wire.ErrMalformed, "epoch 0")
	}
	return o, nil
}

// firstChainKey is ck_0 of a batch.
func firstChainKey(epoch uint32, seed *[seedLen]byte) [32]byte {
	var info [len(epochLabel) + 4]byte
	copy(info[:], epochLabel)
	binary.BigEndian.PutUint32(info[len(epochLabel):], epoch)
	k, err := hkdf.Key(sha256.New, seed[:], make([]byte, 32), string(info[:]), 32)
	if err != nil { // only for lengths HKDF cannot produce
		panic("hush/tagged: hkdf: " + err.Error())
	}
	var ck [32]byte
	copy(ck[:], k)
	clear(k)
	return ck
}

// step advances a chain key: it returns ck_{i+1}, tag_i and key_i.
func step(ck *[32]byte) (next [32]byte, tag Tag, key [keyLen]byte) {
	out, err := hkdf.Expand(sha256.New, ck[:], stepLabel, stepLen)
	if err != nil {
		panic("hush/tagged: hkdf: " + err.Error())
	}
	copy(next[:], out[0:32])
	copy(tag[:], out[32:32+TagLen])
	copy(key[:], out[32+TagLen:])
	clear(out)
	return next, tag, key
}

// aead returns AES-256-GCM under key.
func aead(key *[keyLen]byte) cipher.AEAD {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("hush/tagged: aes: " + err.Error())
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic("hush/tagged: gcm: " + err.Error())
	}
	return g
}

var zeroNonce [12]byte // safe: each key seals exactly one envelope

// errorf wraps a sentinel with detail that never contains secrets.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
