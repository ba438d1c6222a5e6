package group

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"github.com/hush-chat/hush/internal/chainkey"

	"github.com/hush-chat/hush/internal/wire"
)

const (
	distVersion     = 0x01
	distStruct      = "group sender key distribution"
	distSize        = 1 + IDSize + 8 + pubSize + 4 + keySize
	senderVersion   = 0x01
	senderStruct    = "group sender"
	senderStateSize = 1 + IDSize + 8 + ed25519.SeedSize + 4 + keySize
	prefixLen       = len(labelMessageSig) + 1
)

// Sender is one device's sending chain in one group at one epoch: a chain
// key, an Ed25519 signing key (whose public key is the chain's key id) and
// the next iteration. It is secret, and so is its MarshalBinary encoding.
// A Sender is not safe for concurrent use.
type Sender struct {
	group     ID
	epoch     uint64
	priv      ed25519.PrivateKey
	keyID     [pubSize]byte
	chain     [keySize]byte
	iteration uint32
}

// NewSender makes a fresh sending chain for group id at epoch (the version
// of the group state it is made for) from crypto/rand.
func NewSender(id ID, epoch uint64) (*Sender, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	s := &Sender{group: id, epoch: epoch, priv: priv, keyID: [pubSize]byte(pub)}
	rand.Read(s.chain[:])
	return s, nil
}

// Epoch returns the group version the chain was made for.
func (s *Sender) Epoch() uint64 { return s.epoch }

// KeyID returns the chain's key id, its signing public key.
func (s *Sender) KeyID() [32]byte { return s.keyID }

// Distribution returns what a receiver needs to read this chain from the
// next message on: the chain key at the current iteration. The caller sends
// it over pairwise sessions, to current members only; it is secret.
func (s *Sender) Distribution() *Distribution {
	return &Distribution{GroupID: s.group, Epoch: s.epoch, KeyID: s.keyID, Iteration: s.iteration, ChainKey: s.chain}
}

// Encrypt seals plaintext (at most MaxPlaintext bytes) once for the whole
// group: header || AES-256-GCM(ciphertext) || Ed25519 signature.
func (s *Sender) Encrypt(plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(plaintext), MaxPlaintext)
	}
	if s.iteration == reservedIteration {
		return nil, ErrExhausted
	}
	mk, next := chainkey.Step(&s.chain)
	// One buffer: the signature label, then the message; the label is
	// sliced off after signing so the signed bytes are never copied.
	buf := make([]byte, prefixLen+headerSize, prefixLen+headerSize+len(plaintext)+tagSize+sigSize)
	copy(buf, labelMessageSig)
	h := header{group: s.group, epoch: s.epoch, keyID: s.keyID, iteration: s.iteration}
	putHeader(buf[prefixLen:], &h)
	aead, nonce := chainkey.NewExpander(labelMessageKey).AEAD(&mk)
	buf = aead.Seal(buf, nonce, plaintext, buf[prefixLen:prefixLen+headerSize])
	buf = append(buf, ed25519.Sign(s.priv, buf)...)
	s.chain = next
	s.iteration++
	clear(mk[:])
	clear(next[:])
	return buf[prefixLen:], nil
}

// MarshalBinary returns u8(0x01) || group id || u64(epoch) || signing seed
// (32) || u32(iteration) || chain key (32). It is secret.
func (s *Sender) MarshalBinary() ([]byte, error) {
	w := wire.NewWriter(make([]byte, 0, senderStateSize))
	w.U8(senderVersion)
	w.Fixed(s.group[:])
	w.U64(s.epoch)
	w.Fixed(s.priv.Seed())
	w.U32(s.iteration)
	w.Fixed(s.chain[:])
	return w.Bytes(), nil
}

// UnmarshalBinary restores a Sender from MarshalBinary's encoding.
func (s *Sender) UnmarshalBinary(b []byte) error {
	r := wire.NewReader(senderStruct, b)
	r.Version(senderVersion)
	var n Sender
	copy(n.group[:], r.Fixed("group_id", IDSize))
	n.epoch = r.U64("epoch")
	seed := r.Fixed("seed", ed25519.SeedSize)
	n.iteration = r.U32("iteration")
	copy(n.chain[:], r.Fixed("chain", keySize))
	if err := r.Done(); err != nil {
		return err
	}
	n.priv = ed25519.NewKeyFromSeed(seed)
	n.keyID = [pubSize]byte(n.priv.Public().(ed25519.PublicKey))
	*s = n
	return nil
}

// Distribution hands a sending chain to one receiver, over a pairwise
// session (its encoding is secret).
type Distribution struct {
	GroupID   ID
	Epoch     uint64
	KeyID     [32]byte // the chain's Ed25519 signing public key
	Iteration uint32   // the iteration ChainKey is at
	ChainKey  [32]byte
}

// Marshal returns u8(0x01) || group id (16) || u64(epoch) || key id (32)
// || u32(iteration) || chain key (32): 93 bytes.
func (d *Distribution) Marshal() []byte {
	w := wire.NewWriter(make([]byte, 0, distSize))
	w.U8(distVersion)
	w.Fixed(d.GroupID[:])
	w.U64(d.Epoch)
	w.Fixed(d.KeyID[:])
	w.U32(d.Iteration)
	w.Fixed(d.ChainKey[:])
	return w.Bytes()
}

// ParseDistribution decodes a Distribution.
func ParseDistribution(b []byte) (*Distribution, error) {
	r := wire.NewReader(distStruct, b)
	r.Version(distVersion)
	d := &Distribution{}
	copy(d.GroupID[:], r.Fixed("group_id", IDSize))
	d.Epoch = r.U64("epoch")
	copy(d.KeyID[:], r.Fixed("key_id", pubSize))
	d.Iteration = r.U32("iteration")
	copy(d.ChainKey[:], r.Fixed("chain_key", keySize))
	if r.Err() == nil && d.Iteration == reservedIteration {
		r.Fail("iteration", wire.ErrMalformed, "reserved iteration")
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return d, nil
}
