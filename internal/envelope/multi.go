package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/hush-chat/hush/internal/wire"
)

// Multi-recipient spec labels and constants.
const (
	multiBodyAAD  = "hush/v1 multi body" // AES-256-GCM aad of the shared body
	multiSlotInfo = "hush/v1 multi slot" // HPKE info of each slot

	// MultiVersion is the first byte of a full multi-recipient envelope
	// (the form a sender uploads).
	MultiVersion = 0x01
	// DeliveryVersion is the first byte of a delivery (the form one
	// recipient device receives).
	DeliveryVersion = 0x02

	contentKeyLen = 32
	// SlotLen is the fixed size of one slot: an X-Wing encapsulated key and
	// the HPKE ciphertext of the 32-byte content key.
	SlotLen = EncLen + contentKeyLen + tagLen
	// MaxSlots is the largest number of recipient devices of one Multi.
	MaxSlots = 10000
)

var (
	// maxBodyLen is the largest body: the largest padded content plus a tag.
	maxBodyLen = maxPaddedLen + tagLen
	// maxMultiLen bounds a full encoding, checked before parsing.
	maxMultiLen = 1 + 4 + maxBodyLen + 4 + MaxSlots*SlotLen
)

// Multi is a multi-recipient envelope: one encrypted body and, for each
// recipient device in order, a slot that wraps the body's key. Slots have a
// fixed size and name nobody, so the relay learns only their count. A Multi
// comes from SealMulti or ParseMulti (the zero Multi has no slots and no
// valid encoding); it is immutable and safe for concurrent use.
type Multi struct {
	body  []byte // AES-256-GCM ciphertext of the padded content
	slots []byte // NumSlots() slots of SlotLen bytes each, in recipient order
}

// SealMulti seals c to every recipient device, in order. c.Recipient must be
// the zero Address: multi-recipient content names no single recipient (the
// layer above puts group identifiers in Payload). The per-recipient HPKE
// work runs on all available cores.
func SealMulti(recipients []hpke.PublicKey, c *Content) (*Multi, error) {
	return sealMulti(recipients, c, runtime.GOMAXPROCS(0))
}

// sealMulti is SealMulti with a set number of workers. With one worker the
// randomness is drawn in a fixed order, which known-answer tests rely on.
func sealMulti(recipients []hpke.PublicKey, c *Content, workers int) (*Multi, error) {
	if len(recipients) == 0 || len(recipients) > MaxSlots {
		return nil, fmt.Errorf("%w: %d recipients, want 1..%d", ErrInvalid, len(recipients), MaxSlots)
	}
	for i, pk := range recipients {
		if err := checkPublicKey(pk); err != nil {
			return nil, fmt.Errorf("recipient %d: %w", i, err)
		}
	}
	if c == nil {
		return nil, fmt.Errorf("%w: nil content", ErrInvalid)
	}
	if !c.Recipient.isZero() {
		return nil, fmt.Errorf("%w: multi-recipient content must not name a recipient", ErrInvalid)
	}
	pt, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return sealMultiPadded(recipients, pt, workers)
}

// sealMultiPadded seals an already padded content encoding. Tests use it to
// build envelopes SealMulti would refuse to make.
func sealMultiPadded(recipients []hpke.PublicKey, pt []byte, workers int) (*Multi, error) {
	key := make([]byte, contentKeyLen)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	body, err := bodyAEAD(key)
	if err != nil {
		return nil, err
	}
	// The content key is fresh and used for this one body, so a fixed
	// all-zero nonce never repeats under it.
	m := &Multi{body: body.Seal(nil, make([]byte, body.NonceSize()), pt, []byte(multiBodyAAD))}
	m.slots = make([]byte, len(recipients)*SlotLen)
	h := sha256.Sum256(m.body)
	err = forEach(len(recipients), workers, func(i int) error {
		return wrapKey(m.slots[i*SlotLen:(i+1)*SlotLen], recipients[i], key, h[:])
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func bodyAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// wrapKey writes into dst the slot that wraps key for pk. The aad is the
// body's hash, so the slot opens with this body only.
func wrapKey(dst []byte, pk hpke.PublicKey, key, bodyHash []byte) error {
	enc, s, err := hpke.NewSender(pk, suiteKDF, suiteAEAD, []byte(multiSlotInfo))
	if err != nil {
		return fmt.Errorf("hush/envelope: hpke: %w", err)
	}
	ct, err := s.Seal(bodyHash, key)
	if err != nil {
		return fmt.Errorf("hush/envelope: hpke: %w", err)
	}
	if len(enc) != EncLen || len(ct) != contentKeyLen+tagLen {
		return fmt.Errorf("hush/envelope: hpke: unexpected slot size %d+%d", len(enc), len(ct))
	}
	copy(dst, enc)
	copy(dst[EncLen:], ct)
	return nil
}

// forEach calls f(0..n-1) on up to workers goroutines and returns the first
// error met; after an error, indices not yet started are skipped.
func forEach(n, workers int, f func(i int) error) error {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs[w] = err
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// NumSlots returns the number of recipient devices.
func (m *Multi) NumSlots() int { return len(m.slots) / SlotLen }

// Marshal returns the full encoding: the body and every slot, in recipient
// order. It holds no plaintext.
func (m *Multi) Marshal() []byte {
	w := wire.NewWriter(make([]byte, 0, 1+4+len(m.body)+4+len(m.slots)))
	w.U8(MultiVersion)
	w.Bytes32(m.body)
	w.U32(uint32(m.NumSlots()))
	w.Fixed(m.slots)
	return w.Bytes()
}

// Delivery returns what the relay hands recipient i: its slot and the body,
// and no other recipient's slot.
func (m *Multi) Delivery(i int) ([]byte, error) {
	if i < 0 || i >= m.NumSlots() {
		return nil, fmt.Errorf("%w: slot %d of %d", ErrInvalid, i, m.NumSlots())
	}
	out := make([]byte, 0, 1+SlotLen+len(m.body))
	out = append(out, DeliveryVersion)
	out = append(out, m.slots[i*SlotLen:(i+1)*SlotLen]...)
	return append(out, m.body...), nil
}

// ParseMulti decodes a full multi-recipient envelope, as Marshal produces
// it. It needs no key: the relay calls it to split an upload into
// deliveries. Errors are *wire.Error values.
func ParseMulti(b []byte) (*Multi, error) {
	const name = "multi envelope"
	// A DoS bound before anything else.
	if len(b) > maxMultiLen {
		return nil, wire.Errorf(name, "", wire.ErrTooLarge, "%d bytes, limit %d", len(b), maxMultiLen)
	}
	r := wire.NewReader(name, b)
	r.Version(MultiVersion)
	body := r.Bytes32("body", maxBodyLen)
	n := r.U32("slot_count")
	if r.Err() != nil {
		return nil, r.Err()
	}
	if err := checkBody(name, body); err != nil {
		return nil, err
	}
	// A multi with no slot reaches nobody; one with more than MaxSlots is
	// refused before the slots are sized, so a count cannot drive a large
	// computation.
	if n == 0 {
		return nil, wire.Errorf(name, "slot_count", wire.ErrMalformed, "no slots")
	}
	if n > MaxSlots {
		return nil, wire.Errorf(name, "slot_count", wire.ErrTooLarge, "%d slots, limit %d", n, MaxSlots)
	}
	slots := r.Fixed("slots", int(n)*SlotLen)
	if err := r.Done(); err != nil {
		return nil, err
	}
	return &Multi{body: append([]byte{}, body...), slots: append([]byte{}, slots...)}, nil
}

// checkBody refuses a body that is not a padding bucket plus a tag: no
// sender made it, and no decryption is spent on it.
func checkBody(name string, body []byte) error {
	if len(body) < minBucket+tagLen {
		return wire.Errorf(name, "body", wire.ErrTruncated, "%d bytes", len(body))
	}
	if len(body) > maxBodyLen {
		return wire.Errorf(name, "body", wire.ErrTooLarge, "%d bytes, limit %d", len(body), maxBodyLen)
	}
	if !isBucket(len(body) - tagLen) {
		return wire.Errorf(name, "body", wire.ErrMalformed, "length %d is not a padding bucket", len(body))
	}
	return nil
}

// OpenDelivery unwraps the content key from the delivery's slot with the
// device's envelope key priv, decrypts the body and returns its Content. It
// refuses content that names a single recipient (ErrWrongRecipient): that
// stops a peer from re-wrapping a sealed message meant for it as a delivery
// to someone else. The returned Content is plaintext; the caller owns its
// secrecy.
func OpenDelivery(priv hpke.PrivateKey, delivery []byte) (*Content, error) {
	const name = "multi delivery"
	// A DoS bound before any allocation or decapsulation.
	if len(delivery) > MaxEnvelope {
		return nil, wire.Errorf(name, "", wire.ErrTooLarge, "%d bytes, limit %d", len(delivery), MaxEnvelope)
	}
	if err := checkPrivateKey(priv); err != nil {
		return nil, err
	}
	r := wire.NewReader(name, delivery)
	r.Version(DeliveryVersion)
	slot := r.Fixed("slot", SlotLen)
	body := r.Rest()
	if err := r.Err(); err != nil {
		return nil, err
	}
	if err := checkBody(name, body); err != nil {
		return nil, err
	}
	key, err := unwrapKey(priv, slot, body)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return openBody(key, body)
}

// openBody decrypts a multi body with its content key and applies the
// content checks of OpenDelivery.
func openBody(key, body []byte) (*Content, error) {
	aead, err := bodyAEAD(key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, make([]byte, aead.NonceSize()), body, []byte(multiBodyAAD))
	if err != nil {
		return nil, ErrAuth
	}
	c, err := parseContent(pt)
	if err != nil {
		clear(pt)
		return nil, err
	}
	if !c.Recipient.isZero() {
		clear(pt)
		return nil, ErrWrongRecipient
	}
	return c, nil
}

// unwrapKey opens slot against body's hash; a slot moved onto another body
// fails here.
func unwrapKey(priv hpke.PrivateKey, slot, body []byte) ([]byte, error) {
	h := sha256.Sum256(body)
	rcpt, err := hpke.NewRecipient(slot[:EncLen], priv, suiteKDF, suiteAEAD, []byte(multiSlotInfo))
	if err != nil {
		return nil, ErrAuth
	}
	key, err := rcpt.Open(h[:], slot[EncLen:])
	if err != nil {
		return nil, ErrAuth
	}
	return key, nil
}
