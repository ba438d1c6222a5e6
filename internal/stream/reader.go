package stream

import (
	"errors"
	"fmt"
	"io"
)

// NewReader reads the stream header from src and returns a Reader of the
// plaintext. Chunks are read from src in order and opened on up to
// GOMAXPROCS goroutines, with a bounded number in flight (4 x
// GOMAXPROCS chunks of read-ahead, at most 64, 128 KiB of buffers each).
//
// The Reader returns a chunk's bytes only after the chunk has
// authenticated, and io.EOF only after the final chunk has. A stream that is
// cut, extended, reordered or tampered with makes Read return an error
// (wrapping ErrAuth, ErrTruncated or ErrTrailing, or a *wire.Error), never
// a short plaintext followed by io.EOF; the plaintext already returned up to
// that error is authentic but incomplete, and the caller must discard it.
// Errors from src are returned wrapped, after the chunks before them.
// The Reader must be used by one goroutine at a time.
func NewReader(src io.Reader, key Key) (io.Reader, error) {
	var hdr [HeaderSize]byte
	n, err := io.ReadFull(src, hdr[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("hush/stream: reading header: %w", err)
	}
	h, err := ParseHeader(hdr[:n])
	if err != nil {
		return nil, err
	}
	c, err := NewCipher(key, h)
	if err != nil {
		return nil, err
	}
	// One spare input byte: after a full chunk the Reader reads one byte
	// more to learn whether the chunk is the final one.
	return &reader{src: src, q: newPipeline(c, EncryptedChunkSize+1, ChunkSize)}, nil
}

type reader struct {
	src      io.Reader
	q        *pipeline
	index    uint64 // index of the next chunk to read from src
	carry    byte   // the byte read past the previous full chunk
	hasCarry bool
	srcDone  bool   // the final chunk, or an error, has been queued
	cur      []byte // authenticated plaintext not yet returned
	eof      bool   // the final chunk has been returned
	err      error  // sticky
}

func (r *reader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.eof {
			return 0, io.EOF
		}
		// Safe to refill: no slot's plaintext is still being returned.
		for !r.srcDone && !r.q.full() {
			r.readChunk()
		}
		s := r.q.pop(true)
		if s.err != nil {
			r.err = s.err
			continue
		}
		r.cur, r.eof = s.res, s.last
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// readChunk reads the next chunk from src into a free slot and puts it in
// flight. A chunk is the final one when src ends before a byte past it.
func (r *reader) readChunk() {
	s := r.q.free()
	buf := s.in[:EncryptedChunkSize+1]
	k := 0
	if r.hasCarry {
		buf[0], k = r.carry, 1
	}
	n, err := io.ReadFull(r.src, buf[k:])
	n += k
	s.encrypt, s.index, s.err = false, r.index, nil
	r.index++
	switch {
	case err == nil:
		r.carry, r.hasCarry = buf[EncryptedChunkSize], true
		s.in, s.last = buf[:EncryptedChunkSize], false
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		s.in, s.last = buf[:n], true
		r.srcDone = true
		// Refuse a final chunk no writer makes (inside a tag, or empty
		// after full chunks) before spending any crypto on it.
		s.err = checkCipherLen(s.index, true, n)
	default:
		s.in = buf[:0]
		r.srcDone = true
		s.err = fmt.Errorf("hush/stream: reading chunk %d: %w", s.index, err)
	}
	r.q.push(s)
}
