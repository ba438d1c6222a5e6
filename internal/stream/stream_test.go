package stream

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/wire"
)

func roundTripSizes() []int {
	sizes := []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 3 * ChunkSize, 3*ChunkSize + 12345}
	rng := rand.New(rand.NewPCG(1, 2)) // sizes only, nothing secret
	for range 6 {
		sizes = append(sizes, rng.IntN(5*ChunkSize))
	}
	return sizes
}

func TestRoundTrip(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range roundTripSizes() {
		pt := pattern(size)
		ct, err := Encrypt(key, pt)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(ct)) != EncryptedSize(int64(size)) {
			t.Errorf("size %d: stream is %d bytes, EncryptedSize says %d", size, len(ct), EncryptedSize(int64(size)))
		}
		if ps, err := PlaintextSize(int64(len(ct))); err != nil || ps != int64(size) {
			t.Errorf("size %d: PlaintextSize = %d, %v", size, ps, err)
		}
		got, err, _ := openBoth(t, key, ct)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("size %d: plaintext differs", size)
		}
	}
}

func TestFreshHeaderAndKey(t *testing.T) {
	k1, _ := NewKey()
	k2, _ := NewKey()
	if k1 == k2 {
		t.Fatal("NewKey returned the same key twice")
	}
	a, _ := Encrypt(k1, []byte("x"))
	b, _ := Encrypt(k1, []byte("x"))
	if bytes.Equal(a[:HeaderSize], b[:HeaderSize]) || bytes.Equal(a, b) {
		t.Fatal("two encryptions share a header nonce")
	}
}

func TestHeader(t *testing.T) {
	h := testHeader(9)
	b := h.Bytes()
	if len(b) != HeaderSize || b[0] != Version || !bytes.Equal(b[1:], h.Nonce[:]) {
		t.Fatalf("header encoding %x", b)
	}
	if got, err := ParseHeader(b); err != nil || got != h {
		t.Fatalf("ParseHeader(Bytes()) = %v, %v", got, err)
	}
	_, err := ParseHeader(b[:HeaderSize-1])
	wantWireError(t, err, wire.ErrTruncated)
	_, err = ParseHeader(append(b, 0))
	wantWireError(t, err, wire.ErrTrailing)
	for _, v := range []byte{0x00, 0x02, 0xff} {
		bad := bytes.Clone(b)
		bad[0] = v
		_, err = ParseHeader(bad)
		wantWireError(t, err, wire.ErrVersion)
	}
}

// Resumable transfers: chunk-level calls must produce and accept exactly
// the bytes of the whole-stream functions.
func TestChunkRandomAccess(t *testing.T) {
	key, h := testKey(1), testHeader(2)
	pt := pattern(2*ChunkSize + 500)
	ct := mustEncrypt(t, key, h, pt)
	c, err := NewCipher(key, h)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		last := i == 2
		plain := pt[i*ChunkSize : min((i+1)*ChunkSize, len(pt))]
		if got := c.EncryptChunk(nil, uint64(i), last, plain); !bytes.Equal(got, chunkAt(ct, i)) {
			t.Errorf("EncryptChunk(%d) differs from Encrypt", i)
		}
		prefix := []byte("keep")
		got, err := c.DecryptChunk(prefix, uint64(i), last, chunkAt(ct, i))
		if err != nil || !bytes.Equal(got, cat(prefix, plain)) {
			t.Errorf("DecryptChunk(%d): %v", i, err)
		}
		// Security: the index and the last flag are authenticated.
		if _, err := c.DecryptChunk(nil, uint64(i)+1, last, chunkAt(ct, i)); !errors.Is(err, ErrAuth) {
			t.Errorf("chunk %d accepted at index %d: %v", i, i+1, err)
		}
	}
	_, err = c.DecryptChunk(nil, 2, false, chunkAt(ct, 2))
	wantWireError(t, err, wire.ErrMalformed)
	// A full final chunk opened as non-final (or the reverse) is intact but
	// at the wrong end of the stream.
	if _, err := c.DecryptChunk(nil, 1, true, chunkAt(ct, 1)); !errors.Is(err, ErrTruncated) {
		t.Errorf("non-final chunk opened as final: %v, want ErrTruncated", err)
	}
	full := mustEncrypt(t, key, h, pattern(ChunkSize))
	if _, err := c.DecryptChunk(nil, 0, false, chunkAt(full, 0)); !errors.Is(err, ErrTrailing) {
		t.Errorf("final chunk opened as non-final: %v, want ErrTrailing", err)
	}
}

func TestDecryptChunkLengths(t *testing.T) {
	c, err := NewCipher(testKey(1), testHeader(2))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		index    uint64
		last     bool
		n        int
		sentinel error
	}{
		{0, true, TagSize - 1, wire.ErrTruncated},
		{0, true, 0, wire.ErrTruncated},
		{0, true, EncryptedChunkSize + 1, wire.ErrTooLarge},
		{0, false, EncryptedChunkSize - 1, wire.ErrMalformed},
		{3, true, TagSize, wire.ErrMalformed}, // empty final chunk after full ones
	}
	for _, tc := range cases {
		dst := make([]byte, 0, 8)
		_, err := c.DecryptChunk(dst, tc.index, tc.last, make([]byte, tc.n))
		wantWireError(t, err, tc.sentinel)
	}
	// An empty chunk 0 is an empty file; a forged one fails only on the tag.
	if _, err := c.DecryptChunk(nil, 0, true, make([]byte, TagSize)); !errors.Is(err, ErrAuth) {
		t.Errorf("forged empty chunk: %v", err)
	}
}

func TestEncryptChunkPanicsOnInvalidLayout(t *testing.T) {
	c, err := NewCipher(testKey(1), testHeader(2))
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		index uint64
		last  bool
		n     int
	}{
		{0, false, ChunkSize - 1},
		{0, false, 0},
		{0, true, ChunkSize + 1},
		{2, true, 0},
	}
	for _, tc := range bad {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("EncryptChunk(%d, %v, %d bytes) did not panic", tc.index, tc.last, tc.n)
				}
			}()
			c.EncryptChunk(nil, tc.index, tc.last, make([]byte, tc.n))
		}()
	}
}

func TestSizes(t *testing.T) {
	for _, tc := range []struct{ plain, chunks, enc int64 }{
		{0, 1, HeaderSize + TagSize},
		{1, 1, HeaderSize + 1 + TagSize},
		{ChunkSize, 1, HeaderSize + EncryptedChunkSize},
		{ChunkSize + 1, 2, HeaderSize + EncryptedChunkSize + 1 + TagSize},
		{5 * ChunkSize / 2, 3, HeaderSize + 5*ChunkSize/2 + 3*TagSize},
	} {
		if got := NumChunks(tc.plain); got != tc.chunks {
			t.Errorf("NumChunks(%d) = %d, want %d", tc.plain, got, tc.chunks)
		}
		if got := EncryptedSize(tc.plain); got != tc.enc {
			t.Errorf("EncryptedSize(%d) = %d, want %d", tc.plain, got, tc.enc)
		}
	}
	// PlaintextSize is EncryptedSize's exact inverse: every length either
	// maps back or is one no writer produces.
	valid := 0
	for enc := int64(0); enc < HeaderSize+3*EncryptedChunkSize; enc++ {
		p, err := PlaintextSize(enc)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("PlaintextSize(%d): %v is not a *wire.Error", enc, err)
			}
			continue
		}
		valid++
		if EncryptedSize(p) != enc {
			t.Fatalf("PlaintextSize(%d) = %d, but EncryptedSize(%d) = %d", enc, p, p, EncryptedSize(p))
		}
	}
	// Every plaintext length 0 to 3*ChunkSize-1 has exactly one stream
	// length below HeaderSize+3*EncryptedChunkSize, and nothing else is valid.
	if valid != 3*ChunkSize {
		t.Errorf("%d valid stream lengths, want %d", valid, 3*ChunkSize)
	}
	for _, bad := range []int64{0, HeaderSize - 1, HeaderSize, HeaderSize + TagSize - 1,
		HeaderSize + EncryptedChunkSize + TagSize, HeaderSize + EncryptedChunkSize + 5} {
		if _, err := PlaintextSize(bad); err == nil {
			t.Errorf("PlaintextSize(%d) accepted an impossible length", bad)
		}
	}
	for _, f := range []func(){
		func() { NumChunks(-1) },
		func() { EncryptedSize(math.MaxInt64) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("size helper did not panic on an impossible size")
				}
			}()
			f()
		}()
	}
}

func TestErrorsHideSecrets(t *testing.T) {
	key := testKey(0x41)
	ct := mustEncrypt(t, key, testHeader(3), []byte("attack at dawn"))
	ct[len(ct)-1] ^= 1
	_, err := Decrypt(key, ct)
	if err == nil {
		t.Fatal("tampered stream accepted")
	}
	msg := err.Error()
	for _, secret := range []string{"attack", string(key[:8]), "41424344"} {
		if strings.Contains(msg, secret) {
			t.Fatalf("error %q contains secret material", msg)
		}
	}
	if !strings.Contains(msg, "chunk 0") {
		t.Fatalf("error %q does not name the chunk", msg)
	}
}
