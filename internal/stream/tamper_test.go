package stream

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/hush-chat/hush/internal/wire"
)

// Security regressions: every way of cutting, extending, reordering,
// splicing or flipping a stream must be refused by Decrypt and by the
// Reader, with no plaintext returned.

func TestTruncationRefused(t *testing.T) {
	key := testKey(1)
	// Three full chunks and a short final one.
	ct := mustEncrypt(t, key, testHeader(1), pattern(3*ChunkSize+1000))
	for k := range 4 {
		boundary := HeaderSize + k*EncryptedChunkSize
		t.Run(fmt.Sprintf("at boundary %d", k), func(t *testing.T) {
			// Cut just after chunk k-1: the stream ends on a chunk
			// that was sealed as non-final.
			wantRefused(t, key, ct[:boundary], ErrTruncated)
		})
		for _, m := range []int{1, TagSize - 1, TagSize, TagSize + 1, ChunkSize / 2, EncryptedChunkSize - 1} {
			cut := boundary + m
			if cut >= len(ct) {
				continue
			}
			t.Run(fmt.Sprintf("chunk %d at +%d", k, m), func(t *testing.T) {
				wantRefused(t, key, ct[:cut], nil)
			})
		}
	}
	for n := range HeaderSize {
		_, err := Decrypt(key, ct[:n])
		wantWireError(t, err, wire.ErrTruncated)
		_, err = NewReader(bytes.NewReader(ct[:n]), key)
		wantWireError(t, err, wire.ErrTruncated)
	}
}

func TestDroppedAndAppendedChunks(t *testing.T) {
	key, h := testKey(2), testHeader(2)
	c, err := NewCipher(key, h)
	if err != nil {
		t.Fatal(err)
	}
	short := mustEncrypt(t, key, h, pattern(2*ChunkSize+10)) // final chunk short
	full := mustEncrypt(t, key, h, pattern(2*ChunkSize))     // final chunk full

	t.Run("drop final chunk", func(t *testing.T) {
		wantRefused(t, key, short[:HeaderSize+2*EncryptedChunkSize], ErrTruncated)
	})
	t.Run("append chunk after full final chunk", func(t *testing.T) {
		extra := c.EncryptChunk(nil, 2, true, []byte("more"))
		wantRefused(t, key, cat(full, extra), ErrTrailing)
	})
	t.Run("append full chunk after full final chunk", func(t *testing.T) {
		extra := c.EncryptChunk(nil, 2, true, pattern(ChunkSize))
		wantRefused(t, key, cat(full, extra), ErrTrailing)
	})
	t.Run("append chunk after short final chunk", func(t *testing.T) {
		extra := c.EncryptChunk(nil, 3, true, []byte("more"))
		wantRefused(t, key, cat(short, extra), ErrAuth)
	})
	t.Run("append bytes", func(t *testing.T) {
		for _, n := range []int{1, TagSize, TagSize + 1, 1000} {
			wantRefused(t, key, cat(short, make([]byte, n)), nil)
			wantRefused(t, key, cat(full, make([]byte, n)), nil)
		}
	})
	t.Run("replace final chunk by a non-final one", func(t *testing.T) {
		// Re-seal the last full chunk without the last flag: the stream
		// then has no final chunk.
		nonFinal := c.EncryptChunk(nil, 1, false, pattern(2 * ChunkSize)[ChunkSize:])
		wantRefused(t, key, cat(full[:HeaderSize+EncryptedChunkSize], nonFinal), ErrTruncated)
	})
}

func TestReorderedAndSplicedChunks(t *testing.T) {
	key, h := testKey(3), testHeader(3)
	pt := pattern(3*ChunkSize + 77)
	ct := mustEncrypt(t, key, h, pt)
	c0, c1, c2, c3 := chunkAt(ct, 0), chunkAt(ct, 1), chunkAt(ct, 2), chunkAt(ct, 3)
	hdr := ct[:HeaderSize]

	t.Run("swap two chunks", func(t *testing.T) {
		wantRefused(t, key, cat(hdr, c1, c0, c2, c3), ErrAuth)
		wantRefused(t, key, cat(hdr, c0, c2, c1, c3), ErrAuth)
	})
	t.Run("duplicate a chunk", func(t *testing.T) {
		wantRefused(t, key, cat(hdr, c0, c0, c2, c3), ErrAuth)
	})
	t.Run("chunk from another file with the same key", func(t *testing.T) {
		other := mustEncrypt(t, key, testHeader(4), pattern(3*ChunkSize+77))
		wantRefused(t, key, cat(hdr, c0, chunkAt(other, 1), c2, c3), ErrAuth)
		// The same chunks under another header: the header binds them.
		wantRefused(t, key, cat(other[:HeaderSize], c0, c1, c2, c3), ErrAuth)
	})
	t.Run("chunk from another file with another key", func(t *testing.T) {
		other := mustEncrypt(t, testKey(9), h, pt)
		wantRefused(t, key, cat(hdr, c0, c1, chunkAt(other, 2), c3), ErrAuth)
		wantRefused(t, testKey(9), ct, ErrAuth)
	})
}

func TestFlipInEveryChunk(t *testing.T) {
	key := testKey(5)
	ct := mustEncrypt(t, key, testHeader(5), pattern(3*ChunkSize+500))
	for i := range 4 {
		chunk := chunkAt(ct, i)
		for _, pos := range []int{0, len(chunk) / 2, len(chunk) - TagSize, len(chunk) - 1} {
			bad := bytes.Clone(ct)
			bad[HeaderSize+i*EncryptedChunkSize+pos] ^= 0x80
			_, err, rerr := openBoth(t, key, bad)
			want := fmt.Sprintf("(chunk %d)", i)
			if !errors.Is(err, ErrAuth) || !bytes.Contains([]byte(err.Error()), []byte(want)) || !errors.Is(rerr, ErrAuth) {
				t.Fatalf("flip in chunk %d at %d: Decrypt %v, Reader %v", i, pos, err, rerr)
			}
		}
	}
}

// TestFlipEveryByte flips every byte of a small attachment's stream, and
// of a two-chunk stream every byte of the header, of the final chunk and
// of chunk 0's tag, plus a stride through chunk 0's body.
func TestFlipEveryByte(t *testing.T) {
	key := testKey(6)
	small := mustEncrypt(t, key, testHeader(6), pattern(3000))
	for pos := range small {
		flipDetected(t, key, small, pos)
	}
	two := mustEncrypt(t, key, testHeader(7), pattern(ChunkSize+100))
	tag0 := HeaderSize + EncryptedChunkSize - TagSize
	for pos := range two {
		if pos < HeaderSize || pos >= tag0 || pos%61 == 0 {
			flipDetected(t, key, two, pos)
		}
	}
}

func flipDetected(t *testing.T, key Key, ct []byte, pos int) {
	t.Helper()
	ct[pos] ^= 0x80
	defer func() { ct[pos] ^= 0x80 }()
	if pt, err := Decrypt(key, ct); err == nil || pt != nil {
		t.Fatalf("flip at byte %d not detected by Decrypt", pos)
	}
	if pos%251 == 0 {
		if _, err := readAll(key, ct, 4096); err == nil {
			t.Fatalf("flip at byte %d not detected by the Reader", pos)
		}
	}
}

func TestEmptyFinalChunkRefused(t *testing.T) {
	key, h := testKey(7), testHeader(7)
	c, err := NewCipher(key, h)
	if err != nil {
		t.Fatal(err)
	}
	// Build, bypassing EncryptChunk's checks, the second encoding of a
	// one-chunk file: a full non-final chunk and an empty final chunk.
	var n [gcmNonceSize]byte
	chunkNonce(&n, 1, true)
	empty := c.aead.Seal(nil, n[:], nil, nil)
	ct := cat(h.Bytes(), c.EncryptChunk(nil, 0, false, pattern(ChunkSize)), empty)

	pt, err := Decrypt(key, ct)
	wantWireError(t, err, wire.ErrMalformed)
	if pt != nil {
		t.Fatal("plaintext returned")
	}
	_, err = readAll(key, ct, 1<<20)
	wantWireError(t, err, wire.ErrMalformed)
	_, err = PlaintextSize(int64(len(ct)))
	wantWireError(t, err, wire.ErrMalformed)
	_, err = c.DecryptChunk(nil, 1, true, empty)
	wantWireError(t, err, wire.ErrMalformed)

	// The empty file itself is one empty final chunk, and is valid.
	ct = mustEncrypt(t, key, h, nil)
	if len(ct) != HeaderSize+TagSize {
		t.Fatalf("empty file is %d bytes", len(ct))
	}
	if pt, err, _ := openBoth(t, key, ct); err != nil || len(pt) != 0 {
		t.Fatalf("empty file: %v", err)
	}
}
