package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	w := NewWriter(nil)
	w.U8(1)
	w.U16(0x0203)
	w.U32(0x04050607)
	w.U64(0x08090a0b0c0d0e0f)
	w.Fixed([]byte("fix"))
	w.Bytes8([]byte("a"))
	w.Bytes16([]byte("bc"))
	w.Bytes32([]byte("def"))
	r := NewReader("test", w.Bytes())
	r.Version(1)
	if r.U16("a") != 0x0203 || r.U32("b") != 0x04050607 || r.U64("c") != 0x08090a0b0c0d0e0f {
		t.Fatal("integers")
	}
	if string(r.Fixed("f", 3)) != "fix" || string(r.Bytes8("g", 1)) != "a" ||
		string(r.Bytes16("h", 2)) != "bc" || string(r.Bytes32("i", 3)) != "def" {
		t.Fatal("byte strings")
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsAreTypedAndSticky(t *testing.T) {
	r := NewReader("thing", []byte{1, 0, 5, 'x'})
	r.Version(1)
	r.Bytes16("name", 10) // declares 5 bytes, has 1
	var we *Error
	if err := r.Err(); !errors.Is(err, ErrTruncated) || !errors.As(err, &we) || we.Field != "name" || we.Struct != "thing" {
		t.Fatalf("got %v", err)
	}
	// After a failure every read yields zero values and the first error stays.
	if r.U32("later") != 0 || r.Fixed("later", 0) != nil || !errors.Is(r.Done(), ErrTruncated) {
		t.Fatal("error is not sticky")
	}
}

func TestLimitsCheckedBeforeReading(t *testing.T) {
	// A declared length above the field's maximum is refused as too large
	// even when the bytes are there: the limit, not the input, bounds memory.
	b := append([]byte{0, 0, 0, 9}, bytes.Repeat([]byte{'x'}, 9)...)
	r := NewReader("s", b)
	if r.Bytes32("f", 8) != nil || !errors.Is(r.Err(), ErrTooLarge) {
		t.Fatalf("got %v", r.Err())
	}
	r = NewReader("s", []byte{0xff, 0xff, 0xff, 0xff})
	if r.Bytes32("f", 1<<20); !errors.Is(r.Err(), ErrTooLarge) {
		t.Fatalf("4 GiB length: got %v", r.Err())
	}
}

func TestVersionAndTrailing(t *testing.T) {
	r := NewReader("s", []byte{2})
	r.Version(1)
	if !errors.Is(r.Err(), ErrVersion) {
		t.Fatalf("got %v", r.Err())
	}
	r = NewReader("s", []byte{1, 0})
	r.Version(1)
	if !errors.Is(r.Done(), ErrTrailing) {
		t.Fatal("trailing byte accepted")
	}
}

func TestErrorMessageHasNoInputBytes(t *testing.T) {
	secret := []byte("SECRETSECRET")
	r := NewReader("s", secret)
	r.Fixed("f", 100)
	if bytes.Contains([]byte(r.Err().Error()), secret) {
		t.Fatal("error message contains input bytes")
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range [][]byte{{1, 0, 3, 'a', 'b', 'c'}, {1}, nil, {1, 0xff, 0xff}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader("fuzz", b)
		r.Version(1)
		v := r.Bytes16("v", 64)
		if r.Done() == nil {
			w := NewWriter(nil)
			w.U8(1)
			w.Bytes16(v)
			if !bytes.Equal(w.Bytes(), b) {
				t.Fatal("re-encoding differs")
			}
		}
	})
}

// Reading length-prefixed fields allocates nothing: a decoder runs them
// for every field of every stored record and message. The field name of
// the length (field + ".len") is built only for an error.
func TestReaderAllocatesNothing(t *testing.T) {
	w := NewWriter(nil)
	w.Bytes8([]byte("a"))
	w.Bytes16([]byte("bc"))
	w.Bytes32([]byte("def"))
	b := w.Bytes()
	field := "field"
	if n := testing.AllocsPerRun(100, func() {
		r := NewReader("test", b)
		r.Bytes8(field, 1)
		r.Bytes16(field, 2)
		r.Bytes32(field, 3)
		if r.Done() != nil {
			t.Fatal("round trip")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per read", n)
	}
	for _, c := range []struct {
		in   []byte
		read func(*Reader)
	}{
		{nil, func(r *Reader) { r.Bytes8("f", 1) }},
		{[]byte{0}, func(r *Reader) { r.Bytes16("f", 1) }},
		{[]byte{0, 0}, func(r *Reader) { r.Bytes32("f", 1) }},
	} {
		r := NewReader("s", c.in)
		c.read(r)
		var we *Error
		if !errors.As(r.Err(), &we) || we.Field != "f.len" || !errors.Is(we, ErrTruncated) {
			t.Fatalf("truncated length: %v, want field f.len", r.Err())
		}
	}
}
