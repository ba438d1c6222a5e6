package stream

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/hush-chat/hush/internal/wire"
)

// pattern returns n plaintext bytes, byte i being i mod 251 (a prime, so
// chunks differ from each other).
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func testKey(b byte) Key {
	var k Key
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func testHeader(b byte) Header {
	var h Header
	for i := range h.Nonce {
		h.Nonce[i] = b ^ byte(i*7)
	}
	return h
}

func mustEncrypt(t testing.TB, key Key, h Header, pt []byte) []byte {
	t.Helper()
	ct, err := encrypt(key, h, pt)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// readAll decrypts ct through NewReader, reading into a buffer of odd size
// from a source that returns short reads.
func readAll(key Key, ct []byte, readSize int) ([]byte, error) {
	r, err := NewReader(iotest.HalfReader(bytes.NewReader(ct)), key)
	if err != nil {
		return nil, err
	}
	var out []byte
	buf := make([]byte, readSize)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// openBoth decrypts ct with Decrypt and with the io Reader, checks that
// they agree on the verdict and on the plaintext, and returns Decrypt's
// result and the Reader's error.
func openBoth(t *testing.T, key Key, ct []byte) (pt []byte, err, readerErr error) {
	t.Helper()
	pt, err = Decrypt(key, ct)
	rpt, readerErr := readAll(key, ct, 7919)
	if (err == nil) != (readerErr == nil) {
		t.Fatalf("Decrypt error %v, Reader error %v", err, readerErr)
	}
	if err == nil && !bytes.Equal(pt, rpt) {
		t.Fatalf("Decrypt and Reader return different plaintexts")
	}
	if err != nil && pt != nil {
		t.Fatalf("Decrypt returned plaintext with error %v", err)
	}
	return pt, err, readerErr
}

// wantRefused checks that both decryptors refuse ct with an error matching
// sentinel (nil: any error), and that no plaintext comes back.
func wantRefused(t *testing.T, key Key, ct []byte, sentinel error) {
	t.Helper()
	_, err, rerr := openBoth(t, key, ct)
	if err == nil {
		t.Fatal("stream accepted, want refusal")
	}
	if sentinel != nil && (!errors.Is(err, sentinel) || !errors.Is(rerr, sentinel)) {
		t.Fatalf("Decrypt: %v; Reader: %v; want %v", err, rerr, sentinel)
	}
}

func wantWireError(t *testing.T, err error, sentinel error) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) || !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want *wire.Error wrapping %v", err, sentinel)
	}
}

// chunkAt returns encrypted chunk i of stream ct.
func chunkAt(ct []byte, i int) []byte {
	start := HeaderSize + i*EncryptedChunkSize
	return ct[start:min(start+EncryptedChunkSize, len(ct))]
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
