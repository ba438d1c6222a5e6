package group

import (
	"crypto/ed25519"
	"encoding/binary"

	"github.com/hush-chat/hush/internal/wire"
)

// Spec constants of the sender chain and the message encoding.
const (
	keySize   = 32
	nonceSize = 12
	tagSize   = 16
	pubSize   = ed25519.PublicKeySize

	messageVersion = 0x01
	messageStruct  = "group message"
	// headerSize: version || group id || u64 epoch || key id || u32 iteration.
	headerSize = 1 + IDSize + 8 + pubSize + 4
	// MaxMessageSize is the largest encoded group message.
	MaxMessageSize = headerSize + MaxPlaintext + tagSize + sigSize
	// reservedIteration is never used, so a receiver's next iteration
	// always fits in 32 bits.
	reservedIteration = 0xFFFFFFFF
)

// header is the cleartext start of a group message.
type header struct {
	group     ID
	epoch     uint64
	keyID     [pubSize]byte // the sender's group signing public key
	iteration uint32
}

func putHeader(b []byte, h *header) {
	_ = b[headerSize-1]
	b[0] = messageVersion
	copy(b[1:], h.group[:])
	binary.BigEndian.PutUint64(b[1+IDSize:], h.epoch)
	copy(b[1+IDSize+8:], h.keyID[:])
	binary.BigEndian.PutUint32(b[1+IDSize+8+pubSize:], h.iteration)
}

// parsedMessage aliases the input it was parsed from.
type parsedMessage struct {
	header
	signed     []byte // header || ciphertext
	ciphertext []byte
	sig        []byte
}

// parseMessage checks the encoding of a group message:
// header (61) || AES-256-GCM ciphertext (>= 16) || sig (64).
func parseMessage(b []byte) (parsedMessage, error) {
	var m parsedMessage
	// Size first: a sender cannot make us hash or verify more than this.
	if len(b) > MaxMessageSize {
		return m, wire.Errorf(messageStruct, "", wire.ErrTooLarge, "%d bytes, limit %d", len(b), MaxMessageSize)
	}
	r := wire.NewReader(messageStruct, b)
	r.Version(messageVersion)
	copy(m.group[:], r.Fixed("group_id", IDSize))
	m.epoch = r.U64("epoch")
	copy(m.keyID[:], r.Fixed("key_id", pubSize))
	m.iteration = r.U32("iteration")
	if r.Err() == nil && m.iteration == reservedIteration {
		r.Fail("iteration", wire.ErrMalformed, "reserved iteration")
	}
	rest := r.Rest()
	// Shorter than a tag and a signature cannot be a message: refusing it
	// here keeps truncation out of the crypto.
	if r.Err() == nil && len(rest) < tagSize+sigSize {
		r.Fail("ciphertext", wire.ErrTruncated, "shorter than the GCM tag and the signature")
	}
	if err := r.Done(); err != nil {
		return parsedMessage{}, err
	}
	m.ciphertext = rest[:len(rest)-sigSize]
	m.sig = rest[len(rest)-sigSize:]
	m.signed = b[:len(b)-sigSize]
	return m, nil
}

// signedMessage returns "hush/v1 group message" || 0x00 || b, the bytes a
// message signature covers.
func signedMessage(b []byte) []byte {
	out := make([]byte, 0, len(labelMessageSig)+1+len(b))
	out = append(out, labelMessageSig...)
	out = append(out, 0)
	return append(out, b...)
}
