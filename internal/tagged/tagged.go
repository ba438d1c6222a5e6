// Package tagged implements version 2 of hush's 1:1 envelope (doc/SPEC.md
// §14): once two devices share a session, the receiving device hands its
// peer an epoch (an Offer, carried inside a ratchet message) from which the
// peer derives one-time tags and envelope keys, and the peer seals each
// message under the next key with the tag in front. The receiver finds the
// session by the tag with one table lookup (Table) and opens with
// AES-256-GCM: no public-key operation per message, 33 bytes of overhead
// instead of a sealed envelope's 1,137.
//
// An epoch is a batch of Window positions (offer version 0x01, made by the
// first release and still read and sealed to) or continuable (0x02, every
// offer made now): up to MaxPosition positions the sender uses without the
// receiver's help, which the receiver finds in O(1) in order, out of order
// within Window, and after gaps of up to MaxGap positions.
//
// The package promises:
//   - the relay sees the recipient mailbox, the padded length and a 16-byte
//     tag that is independent of every other tag, of the sender and of the
//     message's position; the sender's address stays encrypted;
//   - a key seals or opens one envelope and is then deleted; chains only
//     move forward; an epoch's seed is deleted once it is used;
//   - copy, then commit: Seal, Open and Offer return a new state and leave
//     the receiver's state untouched; a refused envelope (forged, truncated,
//     re-tagged, replayed, too old, too far ahead, unknown) changes nothing;
//   - bounded state: a Receiver holds at most MaxEpochs epochs, each a
//     batch or a continuable epoch with at most Window skipped keys; a
//     Sender one chain position; opening derives at most MaxGap chain steps;
//   - strict decoding of envelopes, offers and states: typed errors, sizes
//     checked before allocation, one encoding per value.
//
// It does not authenticate Content.Sender beyond "one of the two devices
// holding the epoch": the caller checks it against the session the tag
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
	epochLabel   = "hush/v2 tagged epoch"    // batch: first chain key
	stepLabel    = "hush/v2 tagged step"     // batch: chain step
	tagKeyLabel  = "hush/v2 tagged tag key"  // continuable: key of the tags
	chainLabel   = "hush/v2 tagged chain"    // continuable: first chain key
	keyStepLabel = "hush/v2 tagged key step" // continuable: chain step

	// Type is the first byte of a tagged envelope (0x01 sealed, 0x02
	// delivery, 0x03 group message, 0x04 sealed data).
	Type = 0x05
	// TagLen is the length of a tag.
	TagLen = 16
	// Window is the number of positions in a batch; for a continuable
	// epoch, the positions below its high-water mark that still open and
	// those above it that a Table holds.
	Window = 64
	// MaxPosition is the number of positions of a continuable epoch.
	MaxPosition = 1 << 20
	// MaxGap bounds how many positions one envelope of a continuable
	// epoch may skip (the ratchet's MaxSkip): the chain steps one open
	// may derive.
	MaxGap = 2000
	// ReplayMemory is how many positions below the high-water mark a
	// continuable receiver remembers as opened (Window of them with the
	// keys of those that did not): a copy within it is a replay, older
	// ones are too old. More than a sync page, so a relay re-sending a
	// page after a lost acknowledgement is all replays.
	ReplayMemory = 1024
	// MaxEpochs is the number of epochs a Receiver holds.
	MaxEpochs = 2
	// RefillMark is the number of opened positions of the newest epoch
	// after which NeedsOffer reports that the peer should get the next.
	RefillMark = Window / 2
	// Overhead is the length of a tagged envelope minus its padded content.
	Overhead = 1 + TagLen + gcmTagLen

	// OfferBatch and OfferContinuable are the versions of an Offer: a
	// batch of Window positions, and a continuable epoch.
	OfferBatch       = 0x01
	OfferContinuable = 0x02

	stateVersion  = 0x01 // a state holding no continuable epoch
	stateVersion2 = 0x02 // a state holding one
	// OfferLen is the length of an encoded Offer.
	OfferLen = 1 + 4 + seedLen

	seedLen   = 32
	keyLen    = 32
	gcmTagLen = 16
	stepLen   = 32 + TagLen + keyLen // batch: ck_{i+1} || tag_i || key_i
	step2Len  = 32 + keyLen          // continuable: ck_{i+1} || key_i

	minEnvelope = 1 + TagLen + 256 + gcmTagLen // the smallest bucket
)

// Errors besides *wire.Error. Check them with errors.Is.
var (
	// ErrUnknownTag: no batch of this state holds the envelope's tag.
	ErrUnknownTag = errors.New("hush/tagged: no session expects this tag")
	// ErrReplay: the tag's position already opened an envelope.
	ErrReplay = errors.New("hush/tagged: envelope already received")
	// ErrTooOld: the tag's position is more than Window below the
	// highest opened of its epoch: its key is gone (it opened, or was
	// skipped long ago).
	ErrTooOld = errors.New("hush/tagged: envelope too old to open (received, or skipped long ago)")
	// ErrTooFarAhead: the tag's position skips more than MaxGap
	// positions of its epoch.
	ErrTooFarAhead = errors.New("hush/tagged: envelope too far ahead of those received")
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

// Offer is an epoch handed from a receiver to its peer (§14.4). It is
// secret: it travels only as ratchet plaintext.
type Offer struct {
	Version uint8 // OfferBatch or OfferContinuable
	Epoch   uint32
	Seed    [seedLen]byte
}

// Marshal encodes o.
func (o *Offer) Marshal() []byte {
	w := wire.NewWriter(make([]byte, 0, OfferLen))
	w.U8(o.Version)
	w.U32(o.Epoch)
	w.Fixed(o.Seed[:])
	return w.Bytes()
}

// ParseOffer decodes an offer strictly.
func ParseOffer(b []byte) (*Offer, error) {
	r := wire.NewReader("tagged offer", b)
	o := &Offer{Version: r.U8("version")}
	if r.Err() == nil && o.Version != OfferBatch && o.Version != OfferContinuable {
		r.Fail("version", wire.ErrVersion, fmt.Sprintf("got %d", o.Version))
	}
	o.Epoch = r.U32("epoch")
	copy(o.Seed[:], r.Fixed("seed", seedLen))
	if err := r.Done(); err != nil {
		return nil, err
	}
	if o.Epoch == 0 { // epoch 0 means "none" in a sender's state
		return nil, wire.Errorf("tagged offer", "epoch", wire.ErrMalformed, "epoch 0")
	}
	return o, nil
}

// valid reports whether o can be accepted at all.
func (o *Offer) valid() bool {
	return o != nil && o.Epoch != 0 && (o.Version == OfferBatch || o.Version == OfferContinuable)
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
