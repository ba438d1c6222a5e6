package proto

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/wire"
)

// MQTT topics. A device's mailbox id (doc/SPEC.md §10) is the last level.
const (
	// InboxPrefix + mailbox: senders publish envelopes here; the owning
	// device subscribes here and receives delivery frames.
	InboxPrefix = "hush/v1/inbox/"
	// AckPrefix + own mailbox: a device publishes ack frames here.
	AckPrefix = "hush/v1/ack/"
	// StatusPrefix + own mailbox: the relay publishes error notices here
	// for refused publishes that have no PUBACK to carry a reason code
	// (MQTT 3.1.1, or QoS 0).
	StatusPrefix = "hush/v1/status/"
)

// InboxTopic is the topic of mailbox's inbox.
func InboxTopic(mailbox string) string { return InboxPrefix + mailbox }

// AckTopic is the topic a device publishes its acks to.
func AckTopic(mailbox string) string { return AckPrefix + mailbox }

// StatusTopic is the topic the relay publishes a device's error notices to.
func StatusTopic(mailbox string) string { return StatusPrefix + mailbox }

// ValidMailbox reports whether id has the form of a mailbox id: 32
// lowercase hexadecimal characters (doc/SPEC.md §10). Checking the form
// first keeps malformed ids (and topic levels such as "+" or "") away from
// the store.
func ValidMailbox(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Frame constants (doc/api-drafts/relay.md).
const (
	// DeliveryFrameVersion starts a delivery frame:
	// u8 0x01 || u64 seq || envelope.
	DeliveryFrameVersion = 0x01
	// AckFrameVersion starts an ack frame: u8 0x01 || u16 n || n × u64 seq.
	AckFrameVersion = 0x01

	deliveryHeaderLen = 1 + 8
	ackHeaderLen      = 1 + 2
	// MaxAckSeqs is the most sequence numbers one ack frame or HTTP ack
	// request carries.
	MaxAckSeqs = 1<<16 - 1
)

// ErrBadAck: an ack frame is malformed.
var ErrBadAck = errors.New("relay: malformed ack frame")

// EncodeDelivery returns the delivery frame u8 0x01 || u64 seq || envelope.
func EncodeDelivery(seq int64, envelope []byte) []byte {
	out := make([]byte, deliveryHeaderLen, deliveryHeaderLen+len(envelope))
	out[0] = DeliveryFrameVersion
	binary.BigEndian.PutUint64(out[1:], uint64(seq))
	return append(out, envelope...)
}

// DecodeDelivery splits a delivery frame into its sequence number and
// envelope (which aliases frame).
func DecodeDelivery(frame []byte) (seq int64, envelope []byte, err error) {
	if len(frame) < deliveryHeaderLen+1 {
		return 0, nil, fmt.Errorf("relay: delivery frame of %d bytes is truncated", len(frame))
	}
	if frame[0] != DeliveryFrameVersion {
		return 0, nil, fmt.Errorf("relay: delivery frame version %#x unsupported", frame[0])
	}
	return int64(binary.BigEndian.Uint64(frame[1:])), frame[deliveryHeaderLen:], nil
}

// EncodeAck returns the ack frame for seqs (at most MaxAckSeqs).
func EncodeAck(seqs []int64) ([]byte, error) {
	if len(seqs) == 0 || len(seqs) > MaxAckSeqs {
		return nil, fmt.Errorf("%w: %d sequence numbers, want 1..%d", ErrBadAck, len(seqs), MaxAckSeqs)
	}
	out := make([]byte, ackHeaderLen, ackHeaderLen+8*len(seqs))
	out[0] = AckFrameVersion
	binary.BigEndian.PutUint16(out[1:], uint16(len(seqs)))
	for _, s := range seqs {
		out = binary.BigEndian.AppendUint64(out, uint64(s))
	}
	return out, nil
}

// DecodeAck parses an ack frame. It refuses, before allocating, a count
// that does not match the frame's length exactly, so neither a short frame
// nor trailing bytes can be misread, and a count of zero (acks nothing).
// Sequence numbers are positive: a zero or negative one (the top bit of
// the u64 set) is refused.
func DecodeAck(frame []byte) ([]int64, error) {
	if len(frame) < ackHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadAck, len(frame))
	}
	if frame[0] != AckFrameVersion {
		return nil, fmt.Errorf("%w: version %#x", ErrBadAck, frame[0])
	}
	n := int(binary.BigEndian.Uint16(frame[1:]))
	if n == 0 {
		return nil, fmt.Errorf("%w: no sequence numbers", ErrBadAck)
	}
	if len(frame)-ackHeaderLen != 8*n {
		return nil, fmt.Errorf("%w: count %d does not match %d bytes", ErrBadAck, n, len(frame))
	}
	seqs := make([]int64, n)
	for i := range seqs {
		v := binary.BigEndian.Uint64(frame[ackHeaderLen+8*i:])
		if v == 0 || v > 1<<63-1 {
			return nil, fmt.Errorf("%w: sequence number %d out of range", ErrBadAck, i)
		}
		seqs[i] = int64(v)
	}
	return seqs, nil
}

// Fan-out (doc/API.md §4.5): one upload of one envelope for many
// mailboxes, for group messages encrypted once under a sender key. The
// upload carries 16 bytes of routing per recipient.
const (
	// MaxFanout bounds the recipients of one fan-out.
	MaxFanout = 10000
	// FanoutVersion starts a fan-out body:
	// u8 0x01 || u16 n || n × mailbox (16 raw bytes) || envelope.
	FanoutVersion = 0x01
	// MailboxRawSize is the size of a mailbox id in a fan-out body (its
	// 32 hexadecimal characters decoded).
	MailboxRawSize = 16
)

// Routing is the encoded recipient list of a fan-out body. A sender builds
// it once per group membership and reuses it for every message.
type Routing []byte

// NewRouting encodes the recipient list.
func NewRouting(mailboxes []string) (Routing, error) {
	if len(mailboxes) == 0 || len(mailboxes) > MaxFanout {
		return nil, fmt.Errorf("relay: fan-out to %d mailboxes, want 1..%d", len(mailboxes), MaxFanout)
	}
	w := wire.NewWriter(make([]byte, 0, 3+len(mailboxes)*MailboxRawSize))
	w.U8(FanoutVersion)
	w.U16(uint16(len(mailboxes)))
	for _, m := range mailboxes {
		b, err := hex.DecodeString(m)
		if err != nil || len(b) != MailboxRawSize {
			return nil, fmt.Errorf("relay: %q is not a mailbox id", m)
		}
		w.Fixed(b)
	}
	return Routing(w.Bytes()), nil
}

// Body returns the fan-out body for env.
func (r Routing) Body(env []byte) []byte {
	return append(append(make([]byte, 0, len(r)+len(env)), r...), env...)
}

// EncodeFanout builds a fan-out body.
func EncodeFanout(mailboxes []string, env []byte) ([]byte, error) {
	r, err := NewRouting(mailboxes)
	if err != nil {
		return nil, err
	}
	return r.Body(env), nil
}

// FanoutAnswer is the answer of POST /v1/fanout: one sequence number per
// recipient in routing order (0 where that recipient failed) and the
// per-recipient failures, which do not fail the others.
type FanoutAnswer struct {
	Seqs   []int64       `json:"seqs"`
	Errors []FanoutError `json:"errors,omitempty"`
}

// FanoutError is one recipient the relay could not deliver a fan-out to.
type FanoutError struct {
	Index int    `json:"index"` // position in the routing list
	Code  string `json:"code"`  // CodeUnknownMailbox, CodeMailboxFull, CodeMailboxShareFull or CodeAccountStorageFull
}

// MaxListAnswer is the most bytes a GET /v1/mailbox answer holds, counted
// as sent (JSON, envelopes in base64). The relay stops adding envelopes
// before an answer would pass it, so a client that reads answers of up to
// this size always gets whole pages; it always admits one envelope of the
// largest size the relay accepts (MaxEnvelope is far smaller).
const MaxListAnswer = 16 << 20

// DefaultBurst is the relay's default burst of envelopes a device may
// send above its steady rate; a client sizes its fan-out uploads by it.
const DefaultBurst = 1000
