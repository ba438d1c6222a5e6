// Package sealed implements hush's sealed data (doc/SPEC.md §13): data
// encrypted once for every device of a set of users and signed by the
// sender's identity key, so that it can be stored anywhere (a database, an
// object store) and opened later by any of those devices, which learn and
// verify who sealed it.
//
// A sealed blob is a multi-recipient envelope (package envelope) whose
// content carries a header (the file key and the recipient users) followed
// by a file stream (package stream) of the data and the sender's
// signature. The package promises:
//   - confidentiality of the data, the header and the signature against
//     everyone but the recipient devices;
//   - recipients cannot be told from the blob: slots name nobody, and the
//     users are inside the encrypted header; only the number of devices
//     shows;
//   - a reader returns io.EOF only after the whole stream authenticated and
//     the signature over the envelope part's hash (every slot), the
//     header's fields and the data's SHA-256 verified under the key the
//     caller supplies for the claimed sender: a byte changed anywhere fails;
//   - a recipient cannot re-address the sender's signature to someone else:
//     the recipient users are signed, and an opener checks it is named.
//
// The package is pure (no network, disk or clock) and safe for concurrent
// use of distinct values.
package sealed

import (
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/stream"
	"github.com/hush-chat/hush/internal/wire"
)

// Specification constants (doc/SPEC.md §13).
const (
	// Version is the first byte of a sealed blob; it differs from every
	// first byte of §6.6, so a sealed blob is never taken for a message.
	Version = 0x04
	// ContentType is the envelope content type of a sealed-data header.
	ContentType = 4
	// SignLabel is the signature label of sealed data.
	SignLabel = "hush/v1 sealed data"
	// SigSize is the length of the signature that ends the stream's
	// plaintext.
	SigSize = 64
	// MaxUsers bounds the recipient users of one blob, the sender included.
	MaxUsers = 1000

	headerVersion = 0x01
	maxUserLen    = envelope.MaxUserLen
	// maxBody is the multi body of the longest header (version, key,
	// count and MaxUsers names of maxUserLen bytes: 65,035 bytes): its
	// content (40 + sender name + header) padded to 131,072 bytes, plus
	// the tag.
	maxBody = 131072 + 16
	// maxMulti bounds the envelope part, checked before it is read.
	maxMulti = 1 + 4 + maxBody + 4 + envelope.MaxSlots*envelope.SlotLen
)

var (
	// ErrNotRecipient: none of the blob's slots opens with this device's
	// key, or the sender did not name this user. A damaged envelope part
	// looks the same: slots name nobody, so no device can tell.
	ErrNotRecipient = errors.New("this device cannot open the sealed data: it was not sealed for it (or the data is damaged)")
	// ErrTampered: the blob was altered, cut or extended, or is not what
	// the claimed sender sealed (the signature does not verify).
	ErrTampered = errors.New("sealed data was altered or is not what its sender sealed")
)

// Header is what a sealed blob says about itself, inside its encryption.
type Header struct {
	Sender    envelope.Address // the sealing user and device
	MessageID [16]byte         // random, chosen by the sender
	Timestamp int64            // sender clock, Unix milliseconds
	// Users are the recipient users, the sender included, sorted and
	// without repeats.
	Users []string
}

// Names reports whether user is one of h.Users.
func (h *Header) Names(user string) bool {
	_, ok := slices.BinarySearch(h.Users, user)
	return ok
}

func (h *Header) check() error {
	if h.Sender.User == "" || len(h.Sender.User) > maxUserLen || h.Sender.Device == 0 {
		return fmt.Errorf("sealed: invalid sender %q/%d", h.Sender.User, h.Sender.Device)
	}
	if len(h.Users) == 0 || len(h.Users) > MaxUsers {
		return fmt.Errorf("sealed: %d users, want 1..%d", len(h.Users), MaxUsers)
	}
	for i, u := range h.Users {
		if u == "" || len(u) > maxUserLen || !utf8.ValidString(u) {
			return fmt.Errorf("sealed: invalid user name %q", u)
		}
		if i > 0 && h.Users[i-1] >= u {
			return errors.New("sealed: users must be sorted and without repeats")
		}
	}
	if !h.Names(h.Sender.User) {
		return errors.New("sealed: the sender must be one of the users")
	}
	return nil
}

// SignedMessage is what the sender's identity key signs (with SignLabel)
// for a blob with header h, whose envelope part (u8(Version) || u32 length
// || multi) has SHA-256 envHash, and whose data has SHA-256 digest. The
// envelope hash binds every slot: a byte changed in any recipient's slot,
// or a slot added by a recipient, fails the signature for everyone.
func SignedMessage(h *Header, envHash, digest []byte) []byte {
	w := wire.NewWriter(nil)
	w.Fixed(envHash)
	w.Bytes8([]byte(h.Sender.User))
	w.U32(h.Sender.Device)
	w.Fixed(h.MessageID[:])
	w.U64(uint64(h.Timestamp))
	w.U16(uint16(len(h.Users)))
	for _, u := range h.Users {
		w.Bytes8([]byte(u))
	}
	w.Fixed(digest)
	return w.Bytes()
}

func marshalHeader(key *stream.Key, users []string) []byte {
	w := wire.NewWriter(make([]byte, 0, 1+stream.KeySize+2+len(users)*16))
	w.U8(headerVersion)
	w.Fixed(key[:])
	w.U16(uint16(len(users)))
	for _, u := range users {
		w.Bytes8([]byte(u))
	}
	return w.Bytes()
}

func parseHeader(b []byte) (stream.Key, []string, error) {
	var key stream.Key
	r := wire.NewReader("sealed header", b)
	r.Version(headerVersion)
	copy(key[:], r.Fixed("file_key", stream.KeySize))
	n := int(r.U16("user_count"))
	if r.Err() == nil && (n == 0 || n > MaxUsers) {
		r.Fail("user_count", wire.ErrMalformed, fmt.Sprintf("%d users, want 1..%d", n, MaxUsers))
	}
	var users []string
	for i := 0; i < n && r.Err() == nil; i++ {
		u := string(r.Bytes8("user", maxUserLen))
		// Sorted without repeats: one encoding per set, and Names can
		// search it.
		if u == "" || !utf8.ValidString(u) || (i > 0 && users[i-1] >= u) {
			r.Fail("user", wire.ErrMalformed, "empty, not UTF-8, or out of order")
		}
		users = append(users, u)
	}
	if err := r.Done(); err != nil {
		return key, nil, err
	}
	return key, users, nil
}

// NewWriter writes to dst the envelope part of a blob sealed by id with
// header h for the device keys devices (in an order it shuffles), and
// returns the WriteCloser that takes the data. Close writes the signature
// and the final chunk; the blob is complete only when Close returns nil.
// Close does not close dst.
func NewWriter(dst io.Writer, id *identity.IdentityPrivateKey, h Header, devices []hpke.PublicKey) (io.WriteCloser, error) {
	h.Users = slices.Clone(h.Users)
	if err := h.check(); err != nil {
		return nil, err
	}
	key, err := stream.NewKey()
	if err != nil {
		return nil, err
	}
	defer clear(key[:])
	payload := marshalHeader(&key, h.Users)
	defer clear(payload)
	c := &envelope.Content{Sender: h.Sender, MessageID: h.MessageID, Timestamp: h.Timestamp, Type: ContentType, Payload: payload}
	devs := slices.Clone(devices)
	if err := shuffle(devs); err != nil {
		return nil, err
	}
	m, err := envelope.SealMulti(devs, c)
	if err != nil {
		return nil, err
	}
	enc := m.Marshal()
	pre := wire.NewWriter(make([]byte, 0, 5+len(enc)))
	pre.U8(Version)
	pre.Bytes32(enc)
	if _, err := dst.Write(pre.Bytes()); err != nil {
		return nil, err
	}
	envHash := sha256.Sum256(pre.Bytes())
	sw, err := stream.NewWriter(dst, key)
	if err != nil {
		return nil, err
	}
	return &writer{sw: sw, h: h, envHash: envHash[:], id: id, sum: sha256.New()}, nil
}

// shuffle puts the slots in a random order, so that a slot's position says
// nothing about whose device it is (the sender's own first, say).
func shuffle(devs []hpke.PublicKey) error {
	var b [8]byte
	for i := len(devs) - 1; i > 0; i-- {
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		j := int(binary.BigEndian.Uint64(b[:]) % uint64(i+1))
		devs[i], devs[j] = devs[j], devs[i]
	}
	return nil
}

type writer struct {
	sw      io.WriteCloser
	h       Header
	envHash []byte
	id      *identity.IdentityPrivateKey
	sum     hash.Hash
	closed  bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("sealed: write after Close")
	}
	w.sum.Write(p)
	return w.sw.Write(p)
}

func (w *writer) Close() error {
	if w.closed {
		return errors.New("sealed: Close called twice")
	}
	w.closed = true
	sig := w.id.Sign(SignLabel, SignedMessage(&w.h, w.envHash, w.sum.Sum(nil)))
	if _, err := w.sw.Write(sig); err != nil {
		return err
	}
	return w.sw.Close()
}

// Opened is a blob whose envelope part this device opened: the header is
// known, the data not yet read.
type Opened struct {
	Header
	key     stream.Key
	envHash []byte
	src     io.Reader
}

// Open reads the envelope part of a blob from r and opens this device's
// slot with its envelope key priv. It fails with ErrNotRecipient when no
// slot opens, with ErrTampered (or a *wire.Error) when the envelope part
// is malformed, and passes on errors from r. r is left at the data.
func Open(r io.Reader, priv hpke.PrivateKey) (*Opened, error) {
	var pre [5]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, readErr(err)
	}
	if pre[0] != Version {
		return nil, wire.Errorf("sealed data", "version", wire.ErrVersion, "0x%02x", pre[0])
	}
	n := binary.BigEndian.Uint32(pre[1:])
	// A DoS bound before the envelope is read or allocated.
	if n > maxMulti {
		return nil, wire.Errorf("sealed data", "envelope", wire.ErrTooLarge, "%d bytes, limit %d", n, maxMulti)
	}
	enc := make([]byte, n)
	if _, err := io.ReadFull(r, enc); err != nil {
		return nil, readErr(err)
	}
	m, err := envelope.ParseMulti(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	c, err := m.OpenAny(priv)
	if errors.Is(err, envelope.ErrAuth) {
		return nil, ErrNotRecipient
	}
	if err != nil {
		// The slot opened, so its sender made what follows: a content
		// that does not decode is a sender's fault, not this device's.
		return nil, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	defer clear(c.Payload)
	if c.Type != ContentType {
		return nil, fmt.Errorf("%w: content type %d is not sealed data", ErrTampered, c.Type)
	}
	key, users, err := parseHeader(c.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	envHash := sha256.New()
	envHash.Write(pre[:])
	envHash.Write(enc)
	o := &Opened{Header: Header{Sender: c.Sender, MessageID: c.MessageID, Timestamp: c.Timestamp, Users: users},
		key: key, envHash: envHash.Sum(nil), src: r}
	if !o.Names(o.Sender.User) || o.Sender.Device == 0 {
		return nil, fmt.Errorf("%w: the sender is not one of the users", ErrTampered)
	}
	return o, nil
}

// readErr reports a blob that ends early as tampered, and passes other
// read errors on.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrTampered, wire.ErrTruncated)
	}
	return err
}

// Data returns a reader of the blob's data. verify is called once, when
// the whole stream has authenticated, with the signed message and the
// signature; it checks them under the identity key the caller trusts for
// o.Sender.User. The reader returns io.EOF only after verify returned
// nil; until then what it returned is the claimed sender's, unverified,
// and must be discarded if Read fails. A failed verify is returned as is
// (wrap ErrTampered in it when the signature is bad).
func (o *Opened) Data(verify func(signed, sig []byte) error) (io.Reader, error) {
	sr, err := stream.NewReader(o.src, o.key)
	clear(o.key[:])
	if err != nil {
		return nil, streamErr(err)
	}
	return &reader{src: sr, h: &o.Header, envHash: o.envHash, verify: verify, sum: sha256.New()}, nil
}

// streamErr reports the stream's refusals as tampering and passes I/O
// errors on.
func streamErr(err error) error {
	var we *wire.Error
	if errors.Is(err, stream.ErrAuth) || errors.Is(err, stream.ErrTruncated) ||
		errors.Is(err, stream.ErrTrailing) || errors.As(err, &we) {
		return fmt.Errorf("%w: %w", ErrTampered, err)
	}
	return err
}

// reader holds back the last SigSize bytes of the stream's plaintext (the
// signature) and hashes the rest as it releases it.
type reader struct {
	src     io.Reader
	h       *Header
	envHash []byte
	verify  func(signed, sig []byte) error
	sum     hash.Hash
	buf     []byte // read from src, not yet released; the last SigSize bytes may be the signature
	chunk   []byte
	eof     bool
	err     error
}

func (r *reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(r.buf) > SigSize {
			n := copy(p, r.buf[:len(r.buf)-SigSize])
			r.sum.Write(p[:n])
			r.buf = r.buf[:copy(r.buf, r.buf[n:])]
			return n, nil
		}
		if r.err != nil {
			return 0, r.err
		}
		if r.eof {
			r.err = r.finish()
			continue
		}
		if r.chunk == nil {
			r.chunk = make([]byte, stream.ChunkSize)
		}
		n, err := r.src.Read(r.chunk)
		r.buf = append(r.buf, r.chunk[:n]...)
		switch {
		case errors.Is(err, io.EOF):
			r.eof = true
		case err != nil:
			r.err = streamErr(err)
		}
	}
}

// finish checks the signature once the stream has ended; it returns
// io.EOF when the data is the sender's.
func (r *reader) finish() error {
	if len(r.buf) != SigSize {
		return fmt.Errorf("%w: no signature", ErrTampered)
	}
	if err := r.verify(SignedMessage(r.h, r.envHash, r.sum.Sum(nil)), r.buf); err != nil {
		return err
	}
	return io.EOF
}
