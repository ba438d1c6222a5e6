package stream

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// writeIn writes pt to w in pieces whose sizes cycle through sizes.
func writeIn(t *testing.T, w io.Writer, pt []byte, sizes []int) {
	t.Helper()
	for i := 0; len(pt) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(pt))
		m, err := w.Write(pt[:n])
		if err != nil || m != n {
			t.Fatalf("Write(%d bytes) = %d, %v", n, m, err)
		}
		pt = pt[n:]
	}
}

// The Writer and Encrypt produce the same bytes, whatever the write sizes.
func TestWriterMatchesEncrypt(t *testing.T) {
	key, h := testKey(1), testHeader(1)
	writeSizes := [][]int{{1}, {7, 4093, 1}, {ChunkSize}, {ChunkSize + 3, 2*ChunkSize - 1}, {1 << 20}}
	for _, size := range roundTripSizes() {
		pt := pattern(size)
		want := mustEncrypt(t, key, h, pt)
		for _, ws := range writeSizes {
			if size > 2*ChunkSize && ws[0] == 1 && len(ws) == 1 {
				continue // byte-at-a-time on small sizes only: keeps the test fast
			}
			var buf bytes.Buffer
			w, err := newWriter(&buf, key, h)
			if err != nil {
				t.Fatal(err)
			}
			writeIn(t, w, pt, ws)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("size %d, writes %v: Writer output differs from Encrypt", size, ws)
			}
		}
	}
}

func TestReaderOddReads(t *testing.T) {
	key := testKey(2)
	for _, size := range roundTripSizes() {
		pt := pattern(size)
		ct, err := Encrypt(key, pt)
		if err != nil {
			t.Fatal(err)
		}
		for _, readSize := range []int{1, 13, ChunkSize - 1, 3 * ChunkSize} {
			if readSize == 1 && size > 2*ChunkSize {
				continue
			}
			got, err := readAll(key, ct, readSize)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("size %d, reads of %d: %v", size, readSize, err)
			}
		}
		// A source that returns one byte per call.
		r, err := NewReader(iotest.OneByteReader(bytes.NewReader(ct)), key)
		if err != nil {
			t.Fatal(err)
		}
		if err := iotest.TestReader(r, pt); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
	}
}

func TestReaderPassesSourceErrors(t *testing.T) {
	key := testKey(3)
	pt := pattern(3 * ChunkSize)
	ct := mustEncrypt(t, key, testHeader(3), pt)
	boom := errors.New("disk on fire")
	src := io.MultiReader(bytes.NewReader(ct[:HeaderSize+EncryptedChunkSize+100]), iotest.ErrReader(boom))
	r, err := NewReader(src, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the source error", err)
	}
	// Chunk 0 authenticated before the failure; nothing after it is returned.
	if !bytes.Equal(got, pt[:ChunkSize]) {
		t.Fatalf("returned %d bytes before the source error, want %d", len(got), ChunkSize)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, boom) {
		t.Fatalf("error not sticky: %v", err)
	}
	if _, err := NewReader(iotest.ErrReader(boom), key); !errors.Is(err, boom) {
		t.Fatalf("header read error: %v", err)
	}
}

// Security: the Reader returns authenticated chunks only. A stream whose
// chunk 1 is tampered with yields exactly chunk 0, then ErrAuth, never the
// bytes of chunk 1 or later.
func TestReaderReleasesOnlyAuthenticatedChunks(t *testing.T) {
	key := testKey(4)
	pt := pattern(4 * ChunkSize)
	ct := mustEncrypt(t, key, testHeader(4), pt)
	ct[HeaderSize+EncryptedChunkSize+5] ^= 1
	r, err := NewReader(bytes.NewReader(ct), key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("got %v, want ErrAuth", err)
	}
	if !bytes.Equal(got, pt[:ChunkSize]) {
		t.Fatalf("Reader returned %d bytes, want exactly chunk 0", len(got))
	}
}

type failingWriter struct {
	budget int
	err    error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.budget {
		n := f.budget
		f.budget = 0
		return n, f.err
	}
	f.budget -= len(p)
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	key := testKey(5)
	boom := errors.New("network gone")
	if _, err := NewWriter(&failingWriter{budget: 3, err: boom}, key); !errors.Is(err, boom) {
		t.Fatalf("header write error: %v", err)
	}
	w, err := NewWriter(&failingWriter{budget: HeaderSize + 2*EncryptedChunkSize + 10, err: boom}, key)
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for range 64 {
		if _, werr = w.Write(pattern(ChunkSize)); werr != nil {
			break
		}
	}
	cerr := w.Close()
	if !errors.Is(cerr, boom) || (werr != nil && !errors.Is(werr, boom)) {
		t.Fatalf("Write %v, Close %v: want the destination error", werr, cerr)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("second Close succeeded")
	}
}

func TestWriterEmptyAndClosed(t *testing.T) {
	key, h := testKey(6), testHeader(6)
	var buf bytes.Buffer
	w, err := newWriter(&buf, key, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), mustEncrypt(t, key, h, nil)) {
		t.Fatal("empty Writer output differs from Encrypt(nil)")
	}
	if _, err := w.Write([]byte("late")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

// An abandoned Reader or Writer leaves no goroutine behind once its
// in-flight chunks are done.
func TestNoGoroutineLeak(t *testing.T) {
	key := testKey(7)
	ct := mustEncrypt(t, key, testHeader(7), pattern(20*ChunkSize))
	before := runtime.NumGoroutine()
	r, err := NewReader(bytes.NewReader(ct), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(io.Discard, key)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		w.Write(pattern(ChunkSize))
	}
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i > 1e7 {
			t.Fatalf("%d goroutines still running, %d before", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
	}
}
