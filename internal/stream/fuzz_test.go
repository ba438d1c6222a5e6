package stream

import (
	"bytes"
	"testing"
)

func headerSeeds() [][]byte {
	valid := testHeader(1).Bytes()
	wrongVersion := bytes.Clone(valid)
	wrongVersion[0] = 0x02
	return [][]byte{valid, testHeader(0xff).Bytes(), valid[:HeaderSize-1], append(bytes.Clone(valid), 0), wrongVersion, nil}
}

func FuzzParseHeader(f *testing.F) {
	seeds := headerSeeds()
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.Bytes(), b) {
			t.Fatalf("ParseHeader(%x) re-encodes as %x", b, h.Bytes())
		}
	})
}

var fuzzKey = testKey(0x5a)

// The fuzzing engine stalls on inputs of a chunk or more, so FuzzDecrypt
// takes a small tail and a count of full chunks to put before it, taken
// from fuzzPrefix: a valid stream whose first two chunks are full.
var fuzzPrefix = encryptOrPanic(fuzzKey, testHeader(0xf0), pattern(2*ChunkSize+100))

func encryptOrPanic(key Key, h Header, pt []byte) []byte {
	ct, err := encrypt(key, h, pt)
	if err != nil {
		panic(err)
	}
	return ct
}

// fuzzStream builds the input: the tail alone if full is 0, else the
// header and the first full%3 chunks of fuzzPrefix, then the tail.
func fuzzStream(full uint8, tail []byte) []byte {
	if full%3 == 0 {
		return tail
	}
	return cat(fuzzPrefix[:HeaderSize+int(full%3)*EncryptedChunkSize], tail)
}

type streamSeed struct {
	full uint8
	tail []byte
}

func streamSeeds() []streamSeed {
	var seeds []streamSeed
	for _, n := range []int{0, 1, 100} {
		seeds = append(seeds, streamSeed{0, encryptOrPanic(fuzzKey, testHeader(byte(n)), pattern(n))})
	}
	valid := seeds[2].tail
	badVersion := bytes.Clone(valid)
	badVersion[0] = 0
	last := fuzzPrefix[HeaderSize+2*EncryptedChunkSize:]
	return append(seeds,
		streamSeed{0, nil},
		streamSeed{0, valid[:HeaderSize]},
		streamSeed{0, valid[:HeaderSize+TagSize-1]},
		streamSeed{0, badVersion},
		streamSeed{0, encryptOrPanic(testKey(1), testHeader(1), pattern(10))}, // another key
		streamSeed{2, last},                                                   // the whole valid prefix stream
		streamSeed{1, last},                                                   // final chunk at the wrong index
		streamSeed{2, nil},                                                    // cut at a chunk boundary
		streamSeed{2, append(last, 0)},                                        // trailing byte
		streamSeed{2, make([]byte, TagSize)},                                  // empty final chunk
	)
}

// FuzzDecrypt: any input is refused or decrypts to a plaintext that
// re-encrypts, under the same header, to exactly the input. The Reader and
// PlaintextSize reach the same verdict as Decrypt.
func FuzzDecrypt(f *testing.F) {
	seeds := streamSeeds()
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range seeds {
		f.Add(s.full, s.tail)
	}
	f.Fuzz(func(t *testing.T, full uint8, tail []byte) {
		ct := fuzzStream(full, tail)
		pt, err := Decrypt(fuzzKey, ct)
		rpt, rerr := readAll(fuzzKey, ct, 4099)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Decrypt error %v, Reader error %v", err, rerr)
		}
		size, serr := PlaintextSize(int64(len(ct)))
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
			return
		}
		if serr != nil || size != int64(len(pt)) {
			t.Fatalf("PlaintextSize = %d, %v for a stream of %d plaintext bytes", size, serr, len(pt))
		}
		if !bytes.Equal(pt, rpt) {
			t.Fatal("Decrypt and Reader plaintexts differ")
		}
		h, err := ParseHeader(ct[:HeaderSize])
		if err != nil {
			t.Fatal(err)
		}
		if again := mustEncrypt(t, fuzzKey, h, pt); !bytes.Equal(again, ct) {
			t.Fatal("accepted stream does not re-encrypt to itself")
		}
	})
}

// FuzzDecryptChunk: a chunk that opens re-seals to exactly its input. Its
// seeds are short chunks, for the reason given at fuzzPrefix.
func FuzzDecryptChunk(f *testing.F) {
	c, err := NewCipher(fuzzKey, testHeader(3))
	if err != nil {
		f.Fatal(err)
	}
	type seed struct {
		index uint64
		last  bool
		ct    []byte
	}
	seeds := []seed{
		{0, true, c.EncryptChunk(nil, 0, true, nil)},
		{7, true, c.EncryptChunk(nil, 7, true, []byte("seven"))},
		{1, true, make([]byte, TagSize)},
		{0, true, make([]byte, TagSize-1)},
	}
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range seeds {
		f.Add(s.index, s.last, s.ct)
	}
	f.Fuzz(func(t *testing.T, index uint64, last bool, ct []byte) {
		pt, err := c.DecryptChunk(nil, index, last, ct)
		if err != nil {
			return
		}
		if again := c.EncryptChunk(nil, index, last, pt); !bytes.Equal(again, ct) {
			t.Fatal("accepted chunk does not re-seal to itself")
		}
	})
}
