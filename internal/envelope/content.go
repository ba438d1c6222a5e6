package envelope

import (
	"fmt"
	"unicode/utf8"

	"github.com/hush-chat/hush/internal/wire"
)

// Content encoding limits (spec constants).
const (
	contentVersion = 0x01

	// MaxUserLen is the longest user name an Address may carry, in bytes.
	MaxUserLen = 64
	// MaxPayload is the largest Content.Payload, in bytes.
	MaxPayload = 1 << 20

	// maxContentLen is the longest unpadded content encoding: version,
	// two addresses at their longest, message id, timestamp, type, payload
	// length and a MaxPayload payload.
	maxContentLen = 1 + 2*(1+MaxUserLen+4) + 16 + 8 + 1 + 4 + MaxPayload

	minBucket   = 256
	largeBucket = 64 << 10
)

// maxPaddedLen is the longest padded content encoding (1 MiB + 64 KiB).
var maxPaddedLen = PaddedLen(maxContentLen)

// Address names one device of one user.
type Address struct {
	User   string // 1..MaxUserLen bytes of UTF-8
	Device uint32
}

// isZero reports whether a is the zero Address, which multi-recipient
// content uses in place of a recipient.
func (a Address) isZero() bool { return a.User == "" && a.Device == 0 }

// Content is what an envelope carries. Every field is confidential to the
// sender and the recipient devices; the relay sees none of it.
//
// The Sender field is the sender's claim. An envelope authenticates nothing
// about who sealed it: the layer above must check Sender against the session
// that Payload belongs to.
type Content struct {
	Sender    Address
	Recipient Address  // the zero Address in multi-recipient content
	MessageID [16]byte // random, chosen by the sender; receivers dedupe on it
	Timestamp int64    // the sender's clock, Unix milliseconds
	Type      uint8    // what Payload is: 1 ratchet message, 2 prekey message; 0 is refused
	Payload   []byte   // at most MaxPayload bytes
}

// PaddedLen returns the length an encoded content of n bytes is padded to
// before encryption: 256 bytes at least, then the next power of two up to
// 64 KiB, and above 64 KiB the next multiple of 64 KiB. Envelopes whose
// contents share a bucket have equal lengths, so the relay learns only the
// bucket. PaddedLen returns -1 if the result would overflow an int.
func PaddedLen(n int) int {
	switch {
	case n <= minBucket:
		return minBucket
	case n <= largeBucket:
		p := minBucket
		for p < n {
			p <<= 1
		}
		return p
	case n > int(^uint(0)>>1)-largeBucket:
		return -1
	default:
		return (n + largeBucket - 1) / largeBucket * largeBucket
	}
}

// isBucket reports whether n is a padded length hush can produce.
func isBucket(n int) bool { return n >= minBucket && n <= maxPaddedLen && PaddedLen(n) == n }

// Marshal returns the padded encoding of c: the inner plaintext of an
// envelope. The result holds c's plaintext; the caller owns its secrecy.
func (c *Content) Marshal() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	n := 1 + 2*(1+4) + len(c.Sender.User) + len(c.Recipient.User) + 16 + 8 + 1 + 4 + len(c.Payload)
	w := wire.NewWriter(make([]byte, 0, PaddedLen(n)))
	w.U8(contentVersion)
	writeAddress(w, c.Sender)
	writeAddress(w, c.Recipient)
	w.Fixed(c.MessageID[:])
	w.U64(uint64(c.Timestamp))
	w.U8(c.Type)
	w.Bytes32(c.Payload)
	b := w.Bytes()
	return b[:cap(b)], nil // the spare capacity is the zero padding
}

func writeAddress(w *wire.Writer, a Address) {
	w.Bytes8([]byte(a.User))
	w.U32(a.Device)
}

// validate checks c against the limits the decoder enforces, so Marshal
// never produces an encoding ParseContent would refuse.
func (c *Content) validate() error {
	if err := checkAddress("sender", c.Sender); err != nil {
		return err
	}
	if !c.Recipient.isZero() {
		if err := checkAddress("recipient", c.Recipient); err != nil {
			return err
		}
	}
	if c.Type == 0 {
		return fmt.Errorf("%w: content type 0", ErrInvalid)
	}
	if len(c.Payload) > MaxPayload {
		return fmt.Errorf("%w: payload of %d bytes, limit %d", ErrInvalid, len(c.Payload), MaxPayload)
	}
	return nil
}

func checkAddress(role string, a Address) error {
	if len(a.User) < 1 || len(a.User) > MaxUserLen {
		return fmt.Errorf("%w: %s user of %d bytes, want 1..%d", ErrInvalid, role, len(a.User), MaxUserLen)
	}
	if !utf8.ValidString(a.User) {
		return fmt.Errorf("%w: %s user is not UTF-8", ErrInvalid, role)
	}
	return nil
}

// ParseContent decodes a padded content encoding, as Marshal produces it.
// Errors are *wire.Error values.
func ParseContent(b []byte) (*Content, error) {
	c, err := parseContent(b)
	if err != nil {
		return nil, err
	}
	c.Payload = append([]byte{}, c.Payload...)
	return c, nil
}

// parseContent is ParseContent with a Payload that aliases b.
func parseContent(b []byte) (*Content, error) {
	const name = "content"
	// Stops a sender from allocating or parsing beyond the largest content,
	// and from choosing a padded length outside the buckets (a length
	// channel the relay could see).
	if len(b) > maxPaddedLen {
		return nil, wire.Errorf(name, "", wire.ErrTooLarge, "%d bytes, limit %d", len(b), maxPaddedLen)
	}
	r := wire.NewReader(name, b)
	r.Version(contentVersion)
	c := new(Content)
	c.Sender = readAddress(r, "sender.user", "sender.device")
	c.Recipient = readAddress(r, "recipient.user", "recipient.device")
	copy(c.MessageID[:], r.Fixed("message_id", 16))
	c.Timestamp = int64(r.U64("timestamp"))
	c.Type = r.U8("type")
	c.Payload = r.Bytes32("payload", MaxPayload)
	if r.Err() != nil {
		return nil, r.Err()
	}
	// The sender is always named; a recipient is named or is the zero
	// Address. Refusing anything else keeps one encoding per Content.
	if c.Sender.User == "" {
		return nil, wire.Errorf(name, "sender.user", wire.ErrMalformed, "empty")
	}
	if c.Recipient.User == "" && c.Recipient.Device != 0 {
		return nil, wire.Errorf(name, "recipient", wire.ErrMalformed, "device without user")
	}
	// Type 0 is never assigned, so a zeroed buffer cannot pass as content.
	if c.Type == 0 {
		return nil, wire.Errorf(name, "type", wire.ErrMalformed, "type 0")
	}
	unpadded := len(b) - r.Len()
	// Exactly the bucket length: any other padding length would be a
	// second encoding of the same Content and a length side channel.
	if len(b) != PaddedLen(unpadded) {
		return nil, wire.Errorf(name, "padding", wire.ErrMalformed, "%d bytes padded to %d, want %d", unpadded, len(b), PaddedLen(unpadded))
	}
	// All-zero padding: a sender cannot hide data in it, and nobody can
	// use it as a malleability channel.
	var acc byte
	for _, x := range r.Rest() {
		acc |= x
	}
	if acc != 0 {
		return nil, wire.Errorf(name, "padding", wire.ErrMalformed, "nonzero padding")
	}
	return c, nil
}

// readAddress reads an Address whose fields are named userField and
// deviceField (constants: a name built per read would allocate).
func readAddress(r *wire.Reader, userField, deviceField string) Address {
	user := r.Bytes8(userField, MaxUserLen)
	dev := r.U32(deviceField)
	if r.Err() == nil && !utf8.Valid(user) {
		r.Fail(userField, wire.ErrMalformed, "not UTF-8")
	}
	return Address{User: string(user), Device: dev}
}
