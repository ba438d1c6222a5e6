package stream

import (
	"fmt"
	"math"

	"github.com/hush-chat/hush/internal/wire"
)

// NumChunks returns the number of chunks in the stream of a plaintext of
// plain bytes: one for an empty file, otherwise plain/ChunkSize rounded up.
// It panics if plain is negative.
func NumChunks(plain int64) int64 {
	if plain < 0 {
		panic("hush/stream: negative plaintext size")
	}
	if plain == 0 {
		return 1
	}
	return (plain + ChunkSize - 1) / ChunkSize
}

// EncryptedSize returns the length of the stream, header included, that
// encrypts a plaintext of plain bytes. It panics if plain is negative or the
// result does not fit in an int64.
func EncryptedSize(plain int64) int64 {
	overhead := HeaderSize + NumChunks(plain)*TagSize
	if plain > math.MaxInt64-overhead {
		panic("hush/stream: plaintext size overflows the stream size")
	}
	return plain + overhead
}

// PlaintextSize returns the plaintext length of a stream of enc bytes,
// header included. It fails, as Decrypt would before any decryption, if no
// valid stream has that length: shorter than a header and one tag, ending
// inside a tag, or ending in an empty chunk after full ones.
func PlaintextSize(enc int64) (int64, error) {
	if enc < HeaderSize {
		return 0, wire.Errorf(streamName, "header", wire.ErrTruncated, "%d bytes, want %d", enc, HeaderSize)
	}
	chunks, finalLen, err := layout(enc - HeaderSize)
	if err != nil {
		return 0, err
	}
	return (chunks-1)*ChunkSize + int64(finalLen) - TagSize, nil
}

// layout splits a body (the stream after its header) of n bytes into
// chunks: every chunk but the last is EncryptedChunkSize bytes, and the last
// is finalLen bytes. It refuses lengths no valid stream has, with the error
// checkCipherLen gives for the final chunk.
func layout(n int64) (chunks int64, finalLen int, err error) {
	if n < 0 {
		panic(fmt.Sprintf("hush/stream: negative body length %d", n))
	}
	chunks, rem := n/EncryptedChunkSize, int(n%EncryptedChunkSize)
	if rem == 0 && chunks > 0 {
		// The final chunk is full.
		return chunks, EncryptedChunkSize, nil
	}
	if err := checkCipherLen(uint64(chunks), true, rem); err != nil {
		return 0, 0, err
	}
	return chunks + 1, rem, nil
}
