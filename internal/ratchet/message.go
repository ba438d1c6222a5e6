package ratchet

import (
	"encoding/binary"

	"github.com/hush-chat/hush/internal/wire"
)

// Message encoding constants.
const (
	messageV1  = 0x01                // classical Double Ratchet message
	messageV2  = 0x02                // with the post-quantum field (SPEC §5.12)
	headerSize = 1 + keySize + 4 + 4 // v1: version || dh || u32 pn || u32 n

	// headerV2Base is the v2 header without its optional parts: the v1
	// fields and the pq byte.
	headerV2Base = headerSize + 1
	// headerV2Max is the longest v2 header: base, epoch and a full chunk.
	headerV2Max = headerV2Base + 4 + ChunkSize

	// MaxMessageSize is the largest encoded Message: the longest header,
	// MaxPlaintext bytes of plaintext and the GCM tag.
	MaxMessageSize = headerV2Max + MaxPlaintext + tagSize
	// maxMessageV1 is the largest v1 message.
	maxMessageV1 = headerSize + MaxPlaintext + tagSize

	// reservedN is never a message number: a sender stops one short, so a
	// receiver's counter n+1 always fits in 32 bits.
	reservedN = 0xFFFFFFFF

	messageStruct = "ratchet message"
)

// Kinds of the post-quantum field of a v2 header.
const (
	// ChunkNone: the message carries no post-quantum data.
	ChunkNone = 0
	// ChunkKey: a chunk of the sender's ML-KEM-768 encapsulation key.
	ChunkKey = 1
	// ChunkCiphertext: a chunk of the sender's ML-KEM-768 ciphertext.
	ChunkCiphertext = 2
	// ChunkAck: the sender holds the whole ciphertext of the epoch and
	// mixes its secret at its next DH ratchet step; no payload.
	ChunkAck = 3

	pqMixedBit  = 0x80
	pqKindShift = 5
	pqIndexMask = 0x1f
)

// Header is the cleartext part of a Message. It is authenticated (it is part
// of the AEAD associated data) but not encrypted.
type Header struct {
	// Version is 1 or 2; the zero value encodes as 1.
	Version uint8
	DH      [keySize]byte // the sender's current X25519 ratchet public key
	PN      uint32        // number of messages in the sender's previous sending chain
	N       uint32        // number of this message in the current sending chain
	PQ      PQField       // version 2 only
}

// PQField is the post-quantum part of a v2 header (SPEC §5.12).
type PQField struct {
	// Mixed: the root step that started this sending chain mixed the
	// secret of the next post-quantum epoch.
	Mixed bool
	Kind  uint8  // ChunkNone, ChunkKey, ChunkCiphertext or ChunkAck
	Index uint8  // chunk number, for ChunkKey and ChunkCiphertext
	Epoch uint32 // post-quantum epoch of the chunk or ack, from 1
	Chunk []byte // ChunkSize bytes, the last chunk of a key shorter
}

// Message is one encoded Double Ratchet message.
type Message struct {
	Header     Header
	Ciphertext []byte // AES-256-GCM ciphertext and tag, at least 16 bytes
}

// size returns the encoded length of h.
func (h *Header) size() int {
	if h.Version != messageV2 {
		return headerSize
	}
	n := headerV2Base
	if h.PQ.Kind != ChunkNone {
		n += 4
	}
	return n + len(h.PQ.Chunk)
}

// appendHeader appends the encoding of h to b.
func appendHeader(b []byte, h *Header) []byte {
	v := h.Version
	if v != messageV2 {
		v = messageV1
	}
	b = append(b, v)
	b = append(b, h.DH[:]...)
	b = binary.BigEndian.AppendUint32(b, h.PN)
	b = binary.BigEndian.AppendUint32(b, h.N)
	if v == messageV1 {
		return b
	}
	pq := h.PQ.Kind<<pqKindShift | h.PQ.Index&pqIndexMask
	if h.PQ.Mixed {
		pq |= pqMixedBit
	}
	b = append(b, pq)
	if h.PQ.Kind != ChunkNone {
		b = binary.BigEndian.AppendUint32(b, h.PQ.Epoch)
	}
	return append(b, h.PQ.Chunk...)
}

// Marshal returns the encoding: the header (SPEC §5.4, §5.12) then the
// ciphertext.
func (m *Message) Marshal() []byte {
	b := make([]byte, 0, m.Header.size()+len(m.Ciphertext))
	b = appendHeader(b, &m.Header)
	return append(b, m.Ciphertext...)
}

// ParseMessage decodes an encoded Message of either version. It checks only
// the encoding; the ciphertext is authenticated by State.Decrypt. The
// returned Ciphertext and Chunk are copies: they do not alias b.
func ParseMessage(b []byte) (*Message, error) {
	m, _, err := parseMessage(b)
	if err != nil {
		return nil, err
	}
	m.Ciphertext = append([]byte(nil), m.Ciphertext...)
	if m.Header.PQ.Chunk != nil {
		m.Header.PQ.Chunk = append([]byte(nil), m.Header.PQ.Chunk...)
	}
	return &m, nil
}

// parseMessage is ParseMessage without the copies: Ciphertext and Chunk
// alias b. It also returns the header's length.
func parseMessage(b []byte) (Message, int, error) {
	var m Message
	// Size first: a peer cannot make us buffer or hash more than the limit.
	if len(b) > MaxMessageSize {
		return m, 0, wire.Errorf(messageStruct, "", wire.ErrTooLarge, "%d bytes, limit %d", len(b), MaxMessageSize)
	}
	r := wire.NewReader(messageStruct, b)
	// An unknown version is refused, never guessed at.
	v := r.U8("version")
	if r.Err() == nil && v != messageV1 && v != messageV2 {
		r.Fail("version", wire.ErrVersion, "unsupported version")
	}
	if r.Err() == nil && v == messageV1 && len(b) > maxMessageV1 {
		r.Fail("", wire.ErrTooLarge, "longer than a version 1 message")
	}
	m.Header.Version = v
	copy(m.Header.DH[:], r.Fixed("header.dh", keySize))
	m.Header.PN = r.U32("header.pn")
	m.Header.N = r.U32("header.n")
	// Refusing the reserved number keeps the receiver's counter n+1 from
	// wrapping to 0, which would reopen the replay window of the chain.
	if r.Err() == nil && m.Header.N == reservedN {
		r.Fail("header.n", wire.ErrMalformed, "reserved message number")
	}
	if v == messageV2 && r.Err() == nil {
		parsePQField(r, &m.Header.PQ)
	}
	hlen := len(b) - r.Len()
	m.Ciphertext = r.Rest()
	// Shorter than a tag cannot be a GCM output; refusing it here keeps
	// truncation out of the crypto.
	if r.Err() == nil && len(m.Ciphertext) < tagSize {
		r.Fail("ciphertext", wire.ErrTruncated, "shorter than the GCM tag")
	}
	if err := r.Done(); err != nil {
		return Message{}, 0, err
	}
	return m, hlen, nil
}

// parsePQField reads the pq byte and what it announces. Every value has one
// encoding: unused bits are zero, and the chunk length follows from kind and
// index.
func parsePQField(r *wire.Reader, f *PQField) {
	pq := r.U8("header.pq")
	if r.Err() != nil {
		return
	}
	f.Mixed = pq&pqMixedBit != 0
	f.Kind = (pq >> pqKindShift) & 0x03
	f.Index = pq & pqIndexMask
	if f.Kind == ChunkNone || f.Kind == ChunkAck {
		if f.Index != 0 {
			r.Fail("header.pq", wire.ErrMalformed, "index without a chunk")
		}
		if f.Kind == ChunkNone {
			return
		}
	}
	f.Epoch = r.U32("header.epoch")
	// Epochs count from 1; 0 would be an epoch no state is in.
	if r.Err() == nil && f.Epoch == 0 {
		r.Fail("header.epoch", wire.ErrMalformed, "epoch 0")
	}
	if f.Kind == ChunkAck || r.Err() != nil {
		return
	}
	// An index past the last chunk would write outside the object.
	if int(f.Index) >= chunkCount(f.Kind) {
		r.Fail("header.pq", wire.ErrMalformed, "chunk index out of range")
		return
	}
	f.Chunk = r.Fixed("header.chunk", chunkLen(f.Kind, f.Index))
}
