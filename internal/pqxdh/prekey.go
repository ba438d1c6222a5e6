package pqxdh

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/wire"
)

// Spec labels (doc/SPEC.md §4).
const (
	labelSignedPreKey = "hush/v1 signed prekey"
	labelKEMPreKey    = "hush/v1 kem prekey"
	labelKDF          = "hush/v1 PQXDH X25519 SHA-256 ML-KEM-768"
	labelAD           = "hush/v1 session ad"
)

// KEMKind says whether a signed ML-KEM prekey may be used once or is the
// device's last-resort key, used when no one-time KEM prekey is left.
type KEMKind uint8

const (
	KEMOneTime    KEMKind = 1
	KEMLastResort KEMKind = 2
)

func (k KEMKind) String() string {
	switch k {
	case KEMOneTime:
		return "one-time"
	case KEMLastResort:
		return "last-resort"
	}
	return fmt.Sprintf("KEMKind(%d)", uint8(k))
}

// ErrPreKeyID is returned for prekey id 0, which hush reserves to mean
// "none".
var ErrPreKeyID = errors.New("hush: prekey id 0 is reserved")

// SignedPreKey is a device's medium-term X25519 prekey, signed by the
// user's identity key. Its public part is also the responder's first
// ratchet key.
type SignedPreKey struct {
	ID        uint32
	Public    *ecdh.PublicKey
	Signature []byte
}

// OneTimePreKey is an X25519 prekey the directory hands out at most once.
// It is not signed (as in X3DH): it only adds forward secrecy; a forged one
// cannot impersonate anybody because the signed prekey and the device key
// still enter the derivation.
type OneTimePreKey struct {
	ID     uint32
	Public *ecdh.PublicKey
}

// KEMPreKey is a signed ML-KEM-768 prekey, one-time or last-resort.
type KEMPreKey struct {
	ID        uint32
	Kind      KEMKind
	Public    *mlkem.EncapsulationKey768
	Signature []byte
}

func signedPreKeyMessage(device, id uint32, pub []byte) []byte {
	w := wire.NewWriter(nil)
	w.U32(device)
	w.U32(id)
	w.Fixed(pub)
	return w.Bytes()
}

func kemPreKeyMessage(device, id uint32, kind KEMKind, ek []byte) []byte {
	w := wire.NewWriter(nil)
	w.U32(device)
	w.U32(id)
	w.U8(uint8(kind))
	w.Fixed(ek)
	return w.Bytes()
}

// Verify checks the prekey's signature by the identity of device.
func (p *SignedPreKey) Verify(id *identity.IdentityKey, device uint32) error {
	return id.Verify(labelSignedPreKey, signedPreKeyMessage(device, p.ID, p.Public.Bytes()), p.Signature)
}

// Verify checks the prekey's signature by the identity of device.
func (p *KEMPreKey) Verify(id *identity.IdentityKey, device uint32) error {
	return id.Verify(labelKEMPreKey, kemPreKeyMessage(device, p.ID, p.Kind, p.Public.Bytes()), p.Signature)
}

// SignedPreKeyPrivate is the private side of a SignedPreKey.
type SignedPreKeyPrivate struct {
	Key     *ecdh.PrivateKey
	Public  SignedPreKey
	Created int64 // Unix seconds; drives rotation
}

// OneTimePreKeyPrivate is the private side of a OneTimePreKey.
type OneTimePreKeyPrivate struct {
	Key    *ecdh.PrivateKey
	Public OneTimePreKey
}

// KEMPreKeyPrivate is the private side of a KEMPreKey.
type KEMPreKeyPrivate struct {
	Key    *mlkem.DecapsulationKey768
	Public KEMPreKey
}

// NewSignedPreKey generates signed prekey keyID for device, signed by id.
func NewSignedPreKey(id *identity.IdentityPrivateKey, device, keyID uint32, created int64) (*SignedPreKeyPrivate, error) {
	if keyID == 0 {
		return nil, ErrPreKeyID
	}
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	sig := id.Sign(labelSignedPreKey, signedPreKeyMessage(device, keyID, k.PublicKey().Bytes()))
	return &SignedPreKeyPrivate{Key: k, Created: created,
		Public: SignedPreKey{ID: keyID, Public: k.PublicKey(), Signature: sig}}, nil
}

// NewOneTimePreKey generates one-time prekey keyID.
func NewOneTimePreKey(keyID uint32) (*OneTimePreKeyPrivate, error) {
	if keyID == 0 {
		return nil, ErrPreKeyID
	}
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &OneTimePreKeyPrivate{Key: k, Public: OneTimePreKey{ID: keyID, Public: k.PublicKey()}}, nil
}

// NewKEMPreKey generates ML-KEM prekey keyID of the given kind for device,
// signed by id.
func NewKEMPreKey(id *identity.IdentityPrivateKey, device, keyID uint32, kind KEMKind) (*KEMPreKeyPrivate, error) {
	if keyID == 0 {
		return nil, ErrPreKeyID
	}
	if kind != KEMOneTime && kind != KEMLastResort {
		return nil, fmt.Errorf("hush: unknown KEM prekey kind %d", kind)
	}
	k, err := mlkem.GenerateKey768()
	if err != nil {
		return nil, err
	}
	ek := k.EncapsulationKey()
	sig := id.Sign(labelKEMPreKey, kemPreKeyMessage(device, keyID, kind, ek.Bytes()))
	return &KEMPreKeyPrivate{Key: k, Public: KEMPreKey{ID: keyID, Kind: kind, Public: ek, Signature: sig}}, nil
}
