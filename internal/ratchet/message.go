package ratchet

import (
	"encoding/binary"

	"github.com/hush-chat/hush/internal/wire"
)

// Message encoding constants.
const (
	messageVersion = 0x01
	headerSize     = 1 + keySize + 4 + 4 // version || dh || u32 pn || u32 n

	// MaxMessageSize is the largest encoded Message: a header, MaxPlaintext
	// bytes of plaintext and the GCM tag.
	MaxMessageSize = headerSize + MaxPlaintext + tagSize

	// reservedN is never a message number: a sender stops one short, so a
	// receiver's counter n+1 always fits in 32 bits.
	reservedN = 0xFFFFFFFF

	messageStruct = "ratchet message"
)

// Header is the cleartext part of a Message. It is authenticated (it is part
// of the AEAD associated data) but not encrypted.
type Header struct {
	DH [keySize]byte // the sender's current X25519 ratchet public key
	PN uint32        // number of messages in the sender's previous sending chain
	N  uint32        // number of this message in the current sending chain
}

// Message is one encoded Double Ratchet message.
type Message struct {
	Header     Header
	Ciphertext []byte // AES-256-GCM ciphertext and tag, at least 16 bytes
}

// putHeader writes the 41-byte encoding of h into b.
func putHeader(b []byte, h *Header) {
	_ = b[headerSize-1]
	b[0] = messageVersion
	copy(b[1:1+keySize], h.DH[:])
	binary.BigEndian.PutUint32(b[1+keySize:], h.PN)
	binary.BigEndian.PutUint32(b[1+keySize+4:], h.N)
}

// Marshal returns the encoding: u8 0x01 || dh (32) || u32 pn || u32 n ||
// ciphertext.
func (m *Message) Marshal() []byte {
	b := make([]byte, headerSize, headerSize+len(m.Ciphertext))
	putHeader(b, &m.Header)
	return append(b, m.Ciphertext...)
}

// ParseMessage decodes an encoded Message. It checks only the encoding; the
// ciphertext is authenticated by State.Decrypt. The returned Ciphertext is a
// copy: it does not alias b.
func ParseMessage(b []byte) (*Message, error) {
	m, err := parseMessage(b)
	if err != nil {
		return nil, err
	}
	m.Ciphertext = append([]byte(nil), m.Ciphertext...)
	return &m, nil
}

// parseMessage is ParseMessage without the copy: Ciphertext aliases b.
func parseMessage(b []byte) (Message, error) {
	var m Message
	// Size first: a peer cannot make us buffer or hash more than the limit.
	if len(b) > MaxMessageSize {
		return m, wire.Errorf(messageStruct, "", wire.ErrTooLarge, "%d bytes, limit %d", len(b), MaxMessageSize)
	}
	r := wire.NewReader(messageStruct, b)
	// An unknown version is refused, never guessed at: a v2 message must not
	// be read with v1 rules.
	r.Version(messageVersion)
	copy(m.Header.DH[:], r.Fixed("header.dh", keySize))
	m.Header.PN = r.U32("header.pn")
	m.Header.N = r.U32("header.n")
	// Refusing the reserved number keeps the receiver's counter n+1 from
	// wrapping to 0, which would reopen the replay window of the chain.
	if r.Err() == nil && m.Header.N == reservedN {
		r.Fail("header.n", wire.ErrMalformed, "reserved message number")
	}
	m.Ciphertext = r.Rest()
	// Shorter than a tag cannot be a GCM output; refusing it here keeps
	// truncation out of the crypto.
	if r.Err() == nil && len(m.Ciphertext) < tagSize {
		r.Fail("ciphertext", wire.ErrTruncated, "shorter than the GCM tag")
	}
	if err := r.Done(); err != nil {
		return Message{}, err
	}
	return m, nil
}
