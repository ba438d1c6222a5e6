package stream

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Encrypt encrypts plaintext under key with a fresh random header and
// returns the whole stream, header included. It spreads the chunks over
// GOMAXPROCS goroutines. The only error is a failure of crypto/rand or of
// the AES-GCM constructor.
func Encrypt(key Key, plaintext []byte) ([]byte, error) {
	h, err := NewHeader()
	if err != nil {
		return nil, err
	}
	return encrypt(key, h, plaintext)
}

// encrypt is Encrypt with a chosen header: the deterministic core that
// known-answer tests and re-encryption checks use.
func encrypt(key Key, h Header, plaintext []byte) ([]byte, error) {
	c, err := NewCipher(key, h)
	if err != nil {
		return nil, err
	}
	size := int64(len(plaintext))
	out := make([]byte, EncryptedSize(size))
	copy(out, h.Bytes())
	chunks := NumChunks(size)
	forEachChunk(chunks, func(n *[gcmNonceSize]byte, i int64) error {
		start := i * ChunkSize
		end := min(start+ChunkSize, size)
		off := HeaderSize + i*EncryptedChunkSize
		// Seal appends in place: out[off:off] has room for the chunk.
		c.seal(n, out[off:off], uint64(i), i == chunks-1, plaintext[start:end])
		return nil
	})
	return out, nil
}

// Decrypt decrypts a whole stream under key, spreading the chunks over
// GOMAXPROCS goroutines. It returns the plaintext only if every chunk
// authenticates and the stream has exactly one final chunk, at its end;
// otherwise it returns nil and an error wrapping ErrAuth, ErrTruncated or
// ErrTrailing, or a *wire.Error for a bad header or a length no stream can
// have (checked before any decryption).
//
// Decrypt and the Reader from NewReader accept exactly the same streams.
// For a stream damaged in several places they may name different faults:
// Decrypt checks the length first, the Reader reads in order.
func Decrypt(key Key, ciphertext []byte) ([]byte, error) {
	h, err := ParseHeader(ciphertext[:min(len(ciphertext), HeaderSize)])
	if err != nil {
		return nil, err
	}
	body := ciphertext[HeaderSize:]
	chunks, finalLen, err := layout(int64(len(body)))
	if err != nil {
		return nil, err
	}
	c, err := NewCipher(key, h)
	if err != nil {
		return nil, err
	}
	out := make([]byte, (chunks-1)*ChunkSize+int64(finalLen-TagSize))
	err = forEachChunk(chunks, func(n *[gcmNonceSize]byte, i int64) error {
		start := i * EncryptedChunkSize
		end := min(start+EncryptedChunkSize, int64(len(body)))
		off := i * ChunkSize
		_, err := c.openChunk(n, out[off:off], uint64(i), i == chunks-1, body[start:end])
		return err
	})
	if err != nil {
		// Chunks that did authenticate are discarded with the rest: a
		// caller never sees part of a refused stream.
		clear(out)
		return nil, err
	}
	return out, nil
}

// forEachChunk calls fn for chunks 0 to n-1 on up to GOMAXPROCS goroutines,
// each with its own nonce buffer, and returns the error of the lowest
// failing chunk, so the result does not depend on scheduling.
func forEachChunk(n int64, fn func(nonce *[gcmNonceSize]byte, i int64) error) error {
	workers := int64(runtime.GOMAXPROCS(0))
	if workers > n {
		workers = n
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		firstIdx int64 = n
		wg       sync.WaitGroup
	)
	work := func() {
		var nonce [gcmNonceSize]byte
		for {
			i := next.Add(1) - 1
			if i >= n {
				return
			}
			if err := fn(&nonce, i); err != nil {
				mu.Lock()
				if i < firstIdx {
					firstIdx, firstErr = i, err
				}
				mu.Unlock()
			}
		}
	}
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	return firstErr
}
