// Package identity holds hush's long-term keys: a user's Ed25519 identity
// key, each device's key-agreement and envelope keys, the certificate by
// which the identity key vouches for a device, and the fingerprints and
// safety numbers people compare to check they talk to the right person.
//
// The package is pure: no network, disk or clock. Times (certificate
// creation) are parameters. Private key types have Marshal methods because
// the client stores them; what they return is secret and must only be
// written encrypted.
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
)

// Spec labels (doc/SPEC.md §3). Each signature hush makes is over
// label || 0x00 || message, so a signature made for one purpose can never be
// presented as one for another (a prekey signature as a device certificate,
// say). No label contains a zero byte.
const (
	labelDeviceCert   = "hush/v1 device certificate"
	labelSafetyNumber = "hush/v1 safety number"
	labelFingerprint  = "hush/v1 fingerprint"
)

const (
	// IdentityKeySize is the size of an encoded identity public key.
	IdentityKeySize = ed25519.PublicKeySize
	// SignatureSize is the size of every identity signature.
	SignatureSize = ed25519.SignatureSize
)

// ErrSignature is returned (wrapped) when a signature does not verify.
var ErrSignature = errors.New("hush: signature verification failed")

// IdentityKey is a user's public identity key.
type IdentityKey struct {
	pub ed25519.PublicKey
}

// NewIdentityKey parses a 32-byte Ed25519 public key.
func NewIdentityKey(b []byte) (*IdentityKey, error) {
	if len(b) != IdentityKeySize {
		return nil, fmt.Errorf("hush: identity key is %d bytes, want %d", len(b), IdentityKeySize)
	}
	return &IdentityKey{pub: ed25519.PublicKey(append([]byte(nil), b...))}, nil
}

// Bytes returns the 32-byte encoding.
func (k *IdentityKey) Bytes() []byte { return append([]byte(nil), k.pub...) }

// Equal reports whether k and o are the same key. Public keys are not
// secret, but the comparison is constant-time all the same.
func (k *IdentityKey) Equal(o *IdentityKey) bool {
	return o != nil && k.pub.Equal(o.pub)
}

// Verify checks sig over label || 0x00 || msg.
func (k *IdentityKey) Verify(label string, msg, sig []byte) error {
	if len(sig) != SignatureSize || !ed25519.Verify(k.pub, signedMessage(label, msg), sig) {
		return fmt.Errorf("%w (%s)", ErrSignature, label)
	}
	return nil
}

// IdentityPrivateKey is a user's private identity key. Every device of the
// user holds it (as in Signal): it certifies devices and signs prekeys.
type IdentityPrivateKey struct {
	priv ed25519.PrivateKey
}

// GenerateIdentity creates a new identity key from crypto/rand.
func GenerateIdentity() (*IdentityPrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &IdentityPrivateKey{priv: priv}, nil
}

// NewIdentityPrivateKey rebuilds a private key from its 32-byte seed (the
// output of Seed).
func NewIdentityPrivateKey(seed []byte) (*IdentityPrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("hush: identity seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return &IdentityPrivateKey{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Seed returns the 32-byte private seed. It is secret.
func (k *IdentityPrivateKey) Seed() []byte { return append([]byte(nil), k.priv.Seed()...) }

// Public returns the public identity key.
func (k *IdentityPrivateKey) Public() *IdentityKey {
	return &IdentityKey{pub: append(ed25519.PublicKey(nil), k.priv.Public().(ed25519.PublicKey)...)}
}

// Sign signs label || 0x00 || msg.
func (k *IdentityPrivateKey) Sign(label string, msg []byte) []byte {
	return ed25519.Sign(k.priv, signedMessage(label, msg))
}

func signedMessage(label string, msg []byte) []byte {
	b := make([]byte, 0, len(label)+1+len(msg))
	b = append(b, label...)
	b = append(b, 0)
	return append(b, msg...)
}
