package stream

import (
	"bytes"
	"io"
	"testing"
)

const benchSize = 64 << 20

func BenchmarkEncrypt(b *testing.B) {
	key := testKey(1)
	pt := pattern(benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encrypt(key, pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	key := testKey(1)
	ct := mustEncrypt(b, key, testHeader(1), pattern(benchSize))
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decrypt(key, ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriter(b *testing.B) {
	key := testKey(1)
	pt := pattern(benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		w, err := NewWriter(io.Discard, key)
		if err != nil {
			b.Fatal(err)
		}
		// Writes of 1 MiB, as io.Copy from a file would roughly do.
		for p := pt; len(p) > 0; p = p[min(len(p), 1<<20):] {
			if _, err := w.Write(p[:min(len(p), 1<<20)]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReader(b *testing.B) {
	key := testKey(1)
	ct := mustEncrypt(b, key, testHeader(1), pattern(benchSize))
	buf := make([]byte, 1<<20)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(ct), key)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
		if err != nil || n != benchSize {
			b.Fatal(n, err)
		}
	}
}

// Single-core chunk benchmarks: the cost of one 64 KiB chunk on one core.

func BenchmarkEncryptChunk(b *testing.B) {
	c, err := NewCipher(testKey(1), testHeader(1))
	if err != nil {
		b.Fatal(err)
	}
	pt := pattern(ChunkSize)
	dst := make([]byte, 0, EncryptedChunkSize)
	b.SetBytes(ChunkSize)
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		c.EncryptChunk(dst, i, false, pt)
		i++
	}
}

func BenchmarkDecryptChunk(b *testing.B) {
	c, err := NewCipher(testKey(1), testHeader(1))
	if err != nil {
		b.Fatal(err)
	}
	ct := c.EncryptChunk(nil, 0, false, pattern(ChunkSize))
	dst := make([]byte, 0, ChunkSize)
	b.SetBytes(ChunkSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecryptChunk(dst, 0, false, ct); err != nil {
			b.Fatal(err)
		}
	}
}
