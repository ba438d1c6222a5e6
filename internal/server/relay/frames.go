package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
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

// Envelope first bytes a mailbox accepts (doc/SPEC.md §6.6).
const (
	sealedEnvelope   = 0x01
	deliveryEnvelope = 0x02
)

// ErrBadAck: an ack frame is malformed.
var ErrBadAck = errors.New("relay: malformed ack frame")

// InboxTopic is the topic of mailbox's inbox.
func InboxTopic(mailbox string) string { return InboxPrefix + mailbox }

// AckTopic is the topic a device publishes its acks to.
func AckTopic(mailbox string) string { return AckPrefix + mailbox }

// StatusTopic is the topic the relay publishes a device's error notices to.
func StatusTopic(mailbox string) string { return StatusPrefix + mailbox }

// validMailbox reports whether id has the form of a mailbox id: 32
// lowercase hexadecimal characters (doc/SPEC.md §10). Checking the form
// first keeps malformed ids (and topic levels such as "+" or "") away from
// the store.
func validMailbox(id string) bool {
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
