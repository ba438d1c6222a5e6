// Package stream encrypts files and attachments under a per-file key with a
// chunked STREAM construction over AES-256-GCM.
//
// A stream is a 17-byte header (a version byte and a random 16-byte nonce)
// followed by chunks of at most [ChunkSize] plaintext bytes, each sealed
// with its own 16-byte tag. The package promises that a stream which
// decrypts without error is exactly the one the holder of the key wrote:
// every chunk authenticates under a key derived from the file key and the
// header nonce (so chunks cannot move between files), at its own index (so
// chunks cannot be reordered), and exactly one chunk, the final one, carries
// the last flag (so a stream cannot be truncated or extended at a chunk
// boundary). Each plaintext has exactly one encoding under a given key and
// header: every chunk but the last is full, and the last is empty only when
// the whole file is.
//
// Chunks are independent, so the package encrypts and decrypts on every
// core ([Encrypt], [Decrypt], [NewWriter], [NewReader]) and supports random
// access for resumable transfers ([Cipher.EncryptChunk],
// [Cipher.DecryptChunk]). No function returns plaintext that has not been
// authenticated.
//
// The file key is the only secret. It must come from [NewKey], be used for
// one file, and travel only inside an authenticated, encrypted envelope.
// The package does no I/O of its own beyond the io.Reader and io.Writer it
// is given, and reads no clock.
package stream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/wire"
)

// Specification constants.
const (
	// Version is the first byte of every stream header.
	Version = 0x01
	// NonceSize is the length of the random header nonce.
	NonceSize = 16
	// HeaderSize is the length of the stream header: Version || nonce.
	HeaderSize = 1 + NonceSize
	// KeySize is the length of a file key and of the derived payload key.
	KeySize = 32
	// ChunkSize is the plaintext length of every chunk but the last.
	ChunkSize = 64 << 10
	// TagSize is the length of the AES-256-GCM tag that ends each chunk.
	TagSize = 16
	// EncryptedChunkSize is the length of every encrypted chunk but the last.
	EncryptedChunkSize = ChunkSize + TagSize

	// payloadLabel is the HKDF info that derives the payload key.
	payloadLabel = "hush/v1 file stream"
	// gcmNonceSize is the AES-GCM nonce: u88(index) || last flag.
	gcmNonceSize = 12
	lastFlag     = 0x01
)

// Errors. Each failure wraps one of them (or is a *wire.Error) and names
// the chunk index where there is one; none carries key or plaintext bytes.
var (
	// ErrAuth: a chunk failed authentication. It was tampered with,
	// encrypted under another key or header, moved from another index, or
	// the stream was cut or extended inside a chunk.
	ErrAuth = errors.New("hush/stream: chunk failed authentication")
	// ErrTruncated: the stream ends before its final chunk. It is the same
	// value as wire.ErrTruncated, so errors.Is(err, ErrTruncated) holds
	// whether the stream ends inside the header, inside a tag, or at a
	// chunk boundary.
	ErrTruncated = wire.ErrTruncated
	// ErrTrailing: data follows the final chunk. It is the same value as
	// wire.ErrTrailing.
	ErrTrailing = wire.ErrTrailing
)

const streamName = "file stream"

// Key is a file key. It is secret: keep it only as long as the file needs
// it and never log it. Use a fresh key for every file.
type Key [KeySize]byte

// NewKey returns a fresh random file key from crypto/rand.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("hush/stream: generating file key: %w", err)
	}
	return k, nil
}

// Header is the 17-byte stream header. Its nonce is public; it makes the
// payload key unique to this stream even if a file key were reused.
type Header struct {
	Nonce [NonceSize]byte
}

// NewHeader returns a header with a fresh random nonce from crypto/rand.
func NewHeader() (Header, error) {
	var h Header
	if _, err := rand.Read(h.Nonce[:]); err != nil {
		return Header{}, fmt.Errorf("hush/stream: generating header nonce: %w", err)
	}
	return h, nil
}

// ParseHeader decodes exactly HeaderSize bytes. Errors are *wire.Error.
func ParseHeader(b []byte) (Header, error) {
	r := wire.NewReader("file stream header", b)
	// An unknown version may use another KDF or AEAD: refusing it stops a
	// downgrade to, or confusion with, a format this code does not speak.
	r.Version(Version)
	nonce := r.Fixed("nonce", NonceSize)
	// Trailing bytes would give one header two encodings.
	if err := r.Done(); err != nil {
		return Header{}, err
	}
	var h Header
	copy(h.Nonce[:], nonce)
	return h, nil
}

// Bytes returns the HeaderSize-byte encoding of h.
func (h Header) Bytes() []byte {
	w := wire.NewWriter(make([]byte, 0, HeaderSize))
	w.U8(Version)
	w.Fixed(h.Nonce[:])
	return w.Bytes()
}

// Cipher seals and opens the chunks of one stream, identified by its file
// key and header. It is safe for concurrent use, so chunks may be processed
// in any order on any goroutine. It holds the derived payload key: treat it
// as secret as the file key.
type Cipher struct {
	aead cipher.AEAD
}

// NewCipher derives the payload key
// HKDF(salt=header nonce, ikm=key, info="hush/v1 file stream", 32).
func NewCipher(key Key, h Header) (*Cipher, error) {
	pk, err := payloadKey(key, h)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(pk[:])
	if err != nil {
		return nil, fmt.Errorf("hush/stream: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("hush/stream: %w", err)
	}
	return &Cipher{aead: aead}, nil
}

func payloadKey(key Key, h Header) ([KeySize]byte, error) {
	var pk [KeySize]byte
	b, err := hkdf.Key(sha256.New, key[:], h.Nonce[:], payloadLabel, KeySize)
	if err != nil {
		return pk, fmt.Errorf("hush/stream: deriving payload key: %w", err)
	}
	copy(pk[:], b)
	clear(b)
	return pk, nil
}

// chunkNonce writes the GCM nonce of chunk index: an 11-byte big-endian
// index (the top three bytes are zero for a uint64) and the last flag.
func chunkNonce(n *[gcmNonceSize]byte, index uint64, last bool) {
	n[0], n[1], n[2] = 0, 0, 0
	for i := 10; i >= 3; i-- {
		n[i] = byte(index)
		index >>= 8
	}
	n[11] = 0
	if last {
		n[11] = lastFlag
	}
}

// EncryptChunk appends to dst the encryption of chunk index and returns the
// result; dst and plaintext must not overlap unless dst is plaintext[:0].
//
// A stream is valid only if every chunk but the last holds exactly
// ChunkSize bytes and the last holds 1 to ChunkSize bytes, or 0 bytes when
// it is chunk 0 (an empty file). EncryptChunk panics on any other
// combination: that is a bug in the caller, and a chunk it let through would
// be refused by every reader.
func (c *Cipher) EncryptChunk(dst []byte, index uint64, last bool, plaintext []byte) []byte {
	var n [gcmNonceSize]byte
	return c.seal(&n, dst, index, last, plaintext)
}

func (c *Cipher) seal(n *[gcmNonceSize]byte, dst []byte, index uint64, last bool, plaintext []byte) []byte {
	if err := checkPlainLen(index, last, len(plaintext)); err != nil {
		panic(err.Error())
	}
	chunkNonce(n, index, last)
	return c.aead.Seal(dst, n[:], plaintext, nil)
}

func checkPlainLen(index uint64, last bool, n int) error {
	switch {
	case !last && n != ChunkSize:
		return fmt.Errorf("hush/stream: chunk %d has %d bytes, a non-final chunk must have %d", index, n, ChunkSize)
	case n > ChunkSize:
		return fmt.Errorf("hush/stream: chunk %d has %d bytes, more than %d", index, n, ChunkSize)
	case last && n == 0 && index != 0:
		return fmt.Errorf("hush/stream: final chunk %d is empty", index)
	}
	return nil
}

// DecryptChunk appends to dst the plaintext of encrypted chunk index and
// returns the result. last must say whether the caller expects this chunk to
// be the final one of the stream; authentication fails if the writer
// disagreed. dst and ciphertext must not overlap unless dst is
// ciphertext[:0], and on failure the bytes appended to dst's spare capacity
// are zeroed.
//
// A ciphertext whose length no valid chunk at that position can have is
// refused with a *wire.Error before any decryption; a chunk that does not
// authenticate is refused with an error wrapping ErrAuth.
func (c *Cipher) DecryptChunk(dst []byte, index uint64, last bool, ciphertext []byte) ([]byte, error) {
	var n [gcmNonceSize]byte
	return c.openChunk(&n, dst, index, last, ciphertext)
}

// openChunk opens a chunk and, only when it fails to authenticate, tells a
// cut or extended stream apart from a damaged one: a full chunk that
// authenticates with the other last flag is intact but sits at the wrong
// end of the stream. The verdict (accept or refuse) never changes, only the
// error; the extra work is done on the failure path alone.
func (c *Cipher) openChunk(n *[gcmNonceSize]byte, dst []byte, index uint64, last bool, ciphertext []byte) ([]byte, error) {
	out, err := c.open(n, dst, index, last, ciphertext)
	if err == nil || !errors.Is(err, ErrAuth) || len(ciphertext) != EncryptedChunkSize {
		return out, err
	}
	if other, err2 := c.open(n, dst, index, !last, ciphertext); err2 == nil {
		clear(other[len(dst):])
		if last {
			return nil, fmt.Errorf("hush/stream: stream ends after chunk %d, which is not the final chunk: %w", index, ErrTruncated)
		}
		return nil, fmt.Errorf("hush/stream: data follows the final chunk %d: %w", index, ErrTrailing)
	}
	return nil, err
}

func (c *Cipher) open(n *[gcmNonceSize]byte, dst []byte, index uint64, last bool, ciphertext []byte) ([]byte, error) {
	if err := checkCipherLen(index, last, len(ciphertext)); err != nil {
		return nil, err
	}
	chunkNonce(n, index, last)
	out, err := c.aead.Open(dst, n[:], ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("%w (chunk %d)", ErrAuth, index)
	}
	return out, nil
}

// checkCipherLen enforces the chunk layout before decrypting, so each
// plaintext has a single encoding.
func checkCipherLen(index uint64, last bool, n int) error {
	switch {
	case n < TagSize:
		// Shorter than a tag: no AEAD output, only a cut stream.
		return chunkError(index, wire.ErrTruncated, fmt.Sprintf("%d bytes, shorter than a tag", n))
	case n > EncryptedChunkSize:
		// Longer than any chunk: refused before spending work on it.
		return chunkError(index, wire.ErrTooLarge, fmt.Sprintf("%d bytes, limit %d", n, EncryptedChunkSize))
	case !last && n != EncryptedChunkSize:
		// A short chunk in the middle would let the same file be split
		// in more than one way.
		return chunkError(index, wire.ErrMalformed, fmt.Sprintf("non-final chunk of %d bytes, want %d", n, EncryptedChunkSize))
	case last && n == TagSize && index != 0:
		// An empty final chunk after full ones is a second encoding of
		// the same file (age refuses it for the same reason).
		return chunkError(index, wire.ErrMalformed, "empty final chunk")
	}
	return nil
}

func chunkError(index uint64, sentinel error, detail string) error {
	return &wire.Error{Struct: streamName, Field: fmt.Sprintf("chunk %d", index), Err: sentinel, Detail: detail}
}
