// Package wire holds the byte-level conventions every hush encoding shares:
// big-endian integers, length-prefixed byte strings with a declared maximum,
// and one typed error for everything a decoder can refuse.
//
// A Reader never allocates more than the input it was given: every length is
// checked against the bytes that remain (and against the field's maximum)
// before a slice is taken, and slices it returns alias the input. Callers
// that keep a field beyond the life of the input must copy it.
//
// The package has no crypto and no I/O. It is safe for one goroutine at a
// time per Reader or Writer.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sentinel errors. Every *Error wraps exactly one of them, so callers can
// branch with errors.Is without parsing strings.
var (
	// ErrTruncated: the input ended before a field was complete.
	ErrTruncated = errors.New("truncated")
	// ErrTrailing: bytes remain after the last field of a structure.
	ErrTrailing = errors.New("trailing data")
	// ErrTooLarge: a length or count exceeds the limit the spec sets.
	ErrTooLarge = errors.New("too large")
	// ErrVersion: an unknown version byte.
	ErrVersion = errors.New("unsupported version")
	// ErrMalformed: a field's value is not one the spec allows.
	ErrMalformed = errors.New("malformed")
)

// Error is the error every hush decoder returns for input it refuses. It
// names the structure and field, never the secret contents of the input.
type Error struct {
	Struct string // e.g. "ratchet message"
	Field  string // e.g. "header.n"
	Err    error  // one of the sentinels above
	Detail string // optional, human-readable, never contains input bytes
}

func (e *Error) Error() string {
	s := "hush: decoding " + e.Struct
	if e.Field != "" {
		s += " field " + e.Field
	}
	s += ": " + e.Err.Error()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error; Detail is formatted from format and args.
func Errorf(structName, field string, sentinel error, format string, args ...any) *Error {
	return &Error{Struct: structName, Field: field, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// Reader consumes a byte slice field by field. The first failure is sticky:
// after it, every method returns zero values and Err reports the failure, so
// a decoder can read a whole structure and check once.
type Reader struct {
	name string
	// buf is the input, never resliced: reads move off, an integer, so a
	// Reader on the heap costs no GC write barrier per field.
	buf []byte
	off int // bytes read
	err error
}

// NewReader returns a Reader over b for the structure called name (used in
// error messages).
func NewReader(name string, b []byte) *Reader { return &Reader{name: name, buf: b} }

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.buf) - r.off }

// Fail records err (if no error was recorded yet) for field.
func (r *Reader) Fail(field string, sentinel error, detail string) {
	if r.err == nil {
		r.err = &Error{Struct: r.name, Field: field, Err: sentinel, Detail: detail}
	}
	r.off = len(r.buf)
}

func (r *Reader) take(field string, n int) []byte {
	return r.takeField(field, "", n)
}

// takeField is take for the field named field + suffix, a name built
// only for an error: concatenating it for every read would allocate.
func (r *Reader) takeField(field, suffix string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.Len() {
		r.Fail(field+suffix, ErrTruncated, fmt.Sprintf("need %d bytes, have %d", n, r.Len()))
		return nil
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// lengthSuffix names the length prefix of a byte string field.
const lengthSuffix = ".len"

// U8 reads one byte.
func (r *Reader) U8(field string) uint8 {
	b := r.take(field, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

// U16 reads a big-endian uint16.
func (r *Reader) U16(field string) uint16 {
	b := r.take(field, 2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

// U32 reads a big-endian uint32.
func (r *Reader) U32(field string) uint32 {
	b := r.take(field, 4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// U64 reads a big-endian uint64.
func (r *Reader) U64(field string) uint64 {
	b := r.take(field, 8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Fixed reads exactly n bytes.
func (r *Reader) Fixed(field string, n int) []byte { return r.take(field, n) }

// Bytes8 reads a byte string prefixed by a uint8 length, refusing lengths
// above max.
func (r *Reader) Bytes8(field string, max int) []byte {
	b := r.takeField(field, lengthSuffix, 1)
	if b == nil {
		return nil
	}
	return r.bounded(field, int(b[0]), max)
}

// Bytes16 reads a byte string prefixed by a big-endian uint16 length,
// refusing lengths above max.
func (r *Reader) Bytes16(field string, max int) []byte {
	b := r.takeField(field, lengthSuffix, 2)
	if b == nil {
		return nil
	}
	return r.bounded(field, int(binary.BigEndian.Uint16(b)), max)
}

// Bytes32 reads a byte string prefixed by a big-endian uint32 length,
// refusing lengths above max.
func (r *Reader) Bytes32(field string, max int) []byte {
	b := r.takeField(field, lengthSuffix, 4)
	if b == nil {
		return nil
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(max) {
		r.Fail(field, ErrTooLarge, fmt.Sprintf("length %d, limit %d", n, max))
		return nil
	}
	return r.bounded(field, int(n), max)
}

func (r *Reader) bounded(field string, n, max int) []byte {
	if r.err != nil {
		return nil
	}
	if n > max {
		r.Fail(field, ErrTooLarge, fmt.Sprintf("length %d, limit %d", n, max))
		return nil
	}
	return r.take(field, n)
}

// Rest returns every unread byte.
func (r *Reader) Rest() []byte {
	if r.err != nil {
		return nil
	}
	b := r.buf[r.off:]
	r.off = len(r.buf)
	return b
}

// Version reads the version byte and refuses any value but want.
func (r *Reader) Version(want uint8) {
	v := r.U8("version")
	if r.err == nil && v != want {
		r.Fail("version", ErrVersion, fmt.Sprintf("got %d, want %d", v, want))
	}
}

// Done reports the first error, or ErrTrailing if unread bytes remain.
// Trailing bytes are refused so that each value has exactly one encoding:
// a signature or MAC over an encoding then covers everything a peer parsed.
func (r *Reader) Done() error {
	if r.err != nil {
		return r.err
	}
	if r.Len() != 0 {
		r.err = &Error{Struct: r.name, Err: ErrTrailing, Detail: fmt.Sprintf("%d bytes", r.Len())}
		return r.err
	}
	return nil
}

// Writer appends fields to a byte slice.
type Writer struct{ b []byte }

// NewWriter returns a Writer that appends to buf (which may be nil).
func NewWriter(buf []byte) *Writer { return &Writer{b: buf} }

// Bytes returns the encoding built so far.
func (w *Writer) Bytes() []byte { return w.b }

func (w *Writer) U8(v uint8)   { w.b = append(w.b, v) }
func (w *Writer) U16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *Writer) U32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *Writer) U64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }

// Fixed appends b as is; the reader must know its length from the spec.
func (w *Writer) Fixed(b []byte) { w.b = append(w.b, b...) }

// Bytes8 appends a uint8 length and b. It panics if b is longer than 255
// bytes: that is a programming error in the encoder, never input.
func (w *Writer) Bytes8(b []byte) {
	if len(b) > 0xff {
		panic("wire: Bytes8 value too long")
	}
	w.U8(uint8(len(b)))
	w.Fixed(b)
}

// Bytes16 appends a uint16 length and b; panics above 65535 bytes (an
// encoder bug, never input).
func (w *Writer) Bytes16(b []byte) {
	if len(b) > 0xffff {
		panic("wire: Bytes16 value too long")
	}
	w.U16(uint16(len(b)))
	w.Fixed(b)
}

// Bytes32 appends a uint32 length and b.
func (w *Writer) Bytes32(b []byte) {
	if uint64(len(b)) > 0xffffffff {
		panic("wire: Bytes32 value too long")
	}
	w.U32(uint32(len(b)))
	w.Fixed(b)
}
