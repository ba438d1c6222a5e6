package stream

import (
	"errors"
	"fmt"
	"io"
)

var errClosed = errors.New("hush/stream: write to a closed stream writer")

// NewWriter writes a fresh random stream header to dst and returns a
// WriteCloser that encrypts what is written to it under key. Chunks are
// sealed on up to GOMAXPROCS goroutines and written to dst in order, with a
// bounded number in flight (4 x GOMAXPROCS chunks, at most 64, 128 KiB of
// buffers each).
//
// Close must be called: it writes the final chunk and waits for every chunk
// to reach dst. It does not close dst. The stream is valid only if Close
// returns nil. An error from dst may be reported by a later Write than the
// one whose data failed, and is then returned by every call. The Writer
// must be used by one goroutine at a time.
func NewWriter(dst io.Writer, key Key) (io.WriteCloser, error) {
	h, err := NewHeader()
	if err != nil {
		return nil, err
	}
	return newWriter(dst, key, h)
}

func newWriter(dst io.Writer, key Key, h Header) (*writer, error) {
	c, err := NewCipher(key, h)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(h.Bytes()); err != nil {
		return nil, fmt.Errorf("hush/stream: writing header: %w", err)
	}
	return &writer{dst: dst, q: newPipeline(c, ChunkSize, EncryptedChunkSize)}, nil
}

type writer struct {
	dst    io.Writer
	q      *pipeline
	cur    *slot  // the chunk being filled, not yet in flight
	index  uint64 // index of cur
	err    error  // sticky
	closed bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errClosed
	}
	total := 0
	for len(p) > 0 {
		if w.err != nil {
			return total, w.err
		}
		if w.cur == nil {
			w.acquire()
			continue
		}
		if len(w.cur.in) == ChunkSize {
			// A full chunk is held back until more data arrives,
			// because only then is it known not to be the final one.
			w.submit(false)
			continue
		}
		n := copy(w.cur.in[len(w.cur.in):ChunkSize], p)
		w.cur.in = w.cur.in[:len(w.cur.in)+n]
		p = p[n:]
		total += n
	}
	return total, w.err
}

// Close seals and writes the final chunk, which is empty only if nothing
// was written, and waits for every chunk to be written to dst.
func (w *writer) Close() error {
	if w.closed {
		return errClosed
	}
	w.closed = true
	if w.err == nil && w.cur == nil {
		w.acquire()
	}
	if w.err == nil {
		w.submit(true)
	}
	for !w.q.empty() {
		w.flush(w.q.pop(true))
	}
	return w.err
}

// acquire makes a free slot the current chunk, first writing out finished
// chunks: all that are done, and the oldest one whatever its state if the
// pipeline is full.
func (w *writer) acquire() {
	for !w.q.empty() {
		s := w.q.pop(w.q.full())
		if s == nil {
			break
		}
		w.flush(s)
	}
	s := w.q.free()
	s.in = s.in[:0]
	w.cur = s
}

func (w *writer) submit(last bool) {
	s := w.cur
	s.encrypt, s.index, s.last, s.err = true, w.index, last, nil
	w.index++
	w.cur = nil
	w.q.push(s)
}

func (w *writer) flush(s *slot) {
	if w.err != nil {
		return
	}
	if _, err := w.dst.Write(s.res); err != nil {
		w.err = fmt.Errorf("hush/stream: writing chunk %d: %w", s.index, err)
	}
}
