package stream

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"github.com/hush-chat/hush/internal/testkit"
	"path/filepath"
	"testing"
	"testing/cryptotest"
)

const (
	vectorsPath = "testdata/vectors.json"
	vectorSeed  = 0x68757368 // "hush"
)

type vectorFile struct {
	Comment       string   `json:"comment"`
	Seed          uint64   `json:"seed"`
	PlaintextRule string   `json:"plaintext_rule"`
	Vectors       []vector `json:"vectors"`
}

// vector is one stream. Small streams are stored whole; large ones by
// their SHA-256, and for one of them its first and final chunks too.
type vector struct {
	Name             string `json:"name"`
	Key              string `json:"key"`
	Nonce            string `json:"nonce"`
	PayloadKey       string `json:"payload_key"`
	PlaintextLen     int    `json:"plaintext_len"`
	Ciphertext       string `json:"ciphertext,omitempty"`
	CiphertextLen    int    `json:"ciphertext_len"`
	CiphertextSHA256 string `json:"ciphertext_sha256"`
	FirstChunk       string `json:"first_chunk,omitempty"`
	FinalChunk       string `json:"final_chunk,omitempty"`
}

// Stored forms of a vector.
const (
	storeWhole  = iota // the whole ciphertext
	storeHash          // its SHA-256 only
	storeChunks        // its SHA-256, first chunk and final chunk
)

var vectorSizes = []struct {
	name  string
	size  int
	store int
}{
	{"empty file", 0, storeWhole},
	{"one byte", 1, storeWhole},
	{"one full chunk", ChunkSize, storeHash},
	{"two and a half chunks", 5 * ChunkSize / 2, storeChunks},
}

// generateVectors draws every key and nonce from crypto/rand, made
// deterministic by cryptotest.SetGlobalRandom.
func generateVectors(t *testing.T) vectorFile {
	cryptotest.SetGlobalRandom(t, vectorSeed)
	vf := vectorFile{
		Comment: "hush file stream (internal/stream) known-answer vectors; hex strings. " +
			"first_chunk and final_chunk are encrypted chunks (without the header).",
		Seed:          vectorSeed,
		PlaintextRule: "byte i of the plaintext is i mod 251",
	}
	for _, vs := range vectorSizes {
		key, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		ct, err := Encrypt(key, pattern(vs.size))
		if err != nil {
			t.Fatal(err)
		}
		pk, err := payloadKey(key, Header{Nonce: [NonceSize]byte(ct[1:HeaderSize])})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(ct)
		v := vector{
			Name:             vs.name,
			Key:              hex.EncodeToString(key[:]),
			Nonce:            hex.EncodeToString(ct[1:HeaderSize]),
			PayloadKey:       hex.EncodeToString(pk[:]),
			PlaintextLen:     vs.size,
			CiphertextLen:    len(ct),
			CiphertextSHA256: hex.EncodeToString(sum[:]),
		}
		switch vs.store {
		case storeWhole:
			v.Ciphertext = hex.EncodeToString(ct)
		case storeChunks:
			v.FirstChunk = hex.EncodeToString(chunkAt(ct, 0))
			v.FinalChunk = hex.EncodeToString(chunkAt(ct, int(NumChunks(int64(vs.size))-1)))
		}
		vf.Vectors = append(vf.Vectors, v)
	}
	return vf
}

func TestVectors(t *testing.T) {
	want := testkit.GoldenBytes(t, filepath.FromSlash(vectorsPath), generateVectors(t))
	var vf vectorFile
	if err := json.Unmarshal(want, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Vectors) != len(vectorSizes) {
		t.Fatalf("%d vectors stored", len(vf.Vectors))
	}
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) { checkStoredVector(t, v) })
	}
}

// checkStoredVector checks a stored vector from its stored keys alone: with
// a second, minimal implementation of the spec written against crypto/aes
// directly, and with the package's Decrypt and DecryptChunk.
func checkStoredVector(t *testing.T, v vector) {
	key := Key(unhex(t, v.Key))
	nonce := unhex(t, v.Nonce)
	pt := pattern(v.PlaintextLen)

	ref := referenceEncrypt(t, key[:], nonce, pt)
	sum := sha256.Sum256(ref)
	if hex.EncodeToString(sum[:]) != v.CiphertextSHA256 || len(ref) != v.CiphertextLen {
		t.Fatal("reference implementation disagrees with the stored ciphertext")
	}
	pk, err := hkdf.Key(sha256.New, key[:], nonce, "hush/v1 file stream", 32)
	if err != nil || hex.EncodeToString(pk) != v.PayloadKey {
		t.Fatal("payload key differs")
	}

	c, err := NewCipher(key, Header{Nonce: [NonceSize]byte(nonce)})
	if err != nil {
		t.Fatal(err)
	}
	if v.Ciphertext != "" {
		got, err := Decrypt(key, unhex(t, v.Ciphertext))
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Decrypt of stored ciphertext: %v", err)
		}
	}
	if v.FirstChunk == "" {
		return
	}
	n := NumChunks(int64(v.PlaintextLen))
	first, err := c.DecryptChunk(nil, 0, n == 1, unhex(t, v.FirstChunk))
	if err != nil || !bytes.Equal(first, pt[:min(ChunkSize, len(pt))]) {
		t.Fatalf("first chunk: %v", err)
	}
	final, err := c.DecryptChunk(nil, uint64(n-1), true, unhex(t, v.FinalChunk))
	if err != nil || !bytes.Equal(final, pt[(n-1)*ChunkSize:]) {
		t.Fatalf("final chunk: %v", err)
	}
}

// referenceEncrypt is the spec, transcribed without the package's code.
func referenceEncrypt(t *testing.T, fileKey, nonce, pt []byte) []byte {
	pk, err := hkdf.Key(sha256.New, fileKey, nonce, "hush/v1 file stream", 32)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(pk)
	gcm, _ := cipher.NewGCM(block)
	out := append([]byte{0x01}, nonce...)
	for i := 0; ; i++ {
		chunk := pt[i*65536 : min((i+1)*65536, len(pt))]
		final := (i+1)*65536 >= len(pt)
		var n [12]byte // u88(i) || flag
		binary.BigEndian.PutUint64(n[3:11], uint64(i))
		if final {
			n[11] = 1
		}
		out = gcm.Seal(out, n[:], chunk, nil)
		if final {
			return out
		}
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
