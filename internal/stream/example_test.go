package stream_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/hush-chat/hush/internal/stream"
)

func Example() {
	key, err := stream.NewKey() // sent to the recipients inside an envelope
	if err != nil {
		log.Fatal(err)
	}
	ct, err := stream.Encrypt(key, []byte("holiday photos"))
	if err != nil {
		log.Fatal(err)
	}
	pt, err := stream.Decrypt(key, ct)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, %d bytes encrypted\n", pt, len(ct))

	ct[len(ct)-1] ^= 1
	_, err = stream.Decrypt(key, ct)
	fmt.Println(errors.Is(err, stream.ErrAuth))
	// Output:
	// holiday photos, 47 bytes encrypted
	// true
}

func ExampleNewWriter() {
	key, err := stream.NewKey()
	if err != nil {
		log.Fatal(err)
	}
	var file bytes.Buffer
	w, err := stream.NewWriter(&file, key)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(w, strings.NewReader(strings.Repeat("a", 100000))); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // writes the final chunk
		log.Fatal(err)
	}
	fmt.Println(file.Len() == int(stream.EncryptedSize(100000)))

	r, err := stream.NewReader(&file, key)
	if err != nil {
		log.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	fmt.Println(n, err)
	// Output:
	// true
	// 100000 <nil>
}

// A download that resumes at chunk 1: the receiver keeps the header and
// decrypts each chunk as it arrives.
func ExampleCipher_DecryptChunk() {
	key, _ := stream.NewKey()
	ct, _ := stream.Encrypt(key, bytes.Repeat([]byte("x"), stream.ChunkSize+5))

	h, err := stream.ParseHeader(ct[:stream.HeaderSize])
	if err != nil {
		log.Fatal(err)
	}
	c, err := stream.NewCipher(key, h)
	if err != nil {
		log.Fatal(err)
	}
	offset := stream.HeaderSize + 1*stream.EncryptedChunkSize // chunk 1
	chunk, err := c.DecryptChunk(nil, 1, true, ct[offset:])
	fmt.Printf("%q %v\n", chunk, err)
	// Output:
	// "xxxxx" <nil>
}

func ExamplePlaintextSize() {
	n, err := stream.PlaintextSize(stream.EncryptedSize(1 << 20))
	fmt.Println(n, err, stream.NumChunks(1<<20))

	// An empty chunk after a full one: no writer produces that length.
	_, err = stream.PlaintextSize(stream.HeaderSize + stream.EncryptedChunkSize + stream.TagSize)
	fmt.Println(err)
	// Output:
	// 1048576 <nil> 16
	// hush: decoding file stream field chunk 1: malformed (empty final chunk)
}
