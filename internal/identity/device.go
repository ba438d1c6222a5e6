package identity

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/wire"
)

// Sizes of device key encodings (doc/SPEC.md §3.2).
const (
	DHKeySize       = 32                                        // X25519 public key
	EnvelopeKeySize = mlkem.EncapsulationKeySize768 + DHKeySize // X-Wing public key, 1216 bytes
	// DeviceCertSize is the exact size of an encoded device certificate.
	DeviceCertSize = 1 + IdentityKeySize + 4 + DHKeySize + EnvelopeKeySize + 8 + SignatureSize
	// devicePrivateSize is the exact size of an encoded DevicePrivateKey.
	devicePrivateSize = 1 + 4 + 32 + 32 + mlkem.SeedSize

	versionDeviceCert    = 0x01
	versionDevicePrivate = 0x01
)

// ErrDeviceID is returned for device id 0, which hush reserves.
var ErrDeviceID = errors.New("hush: device id 0 is reserved")

// DevicePrivateKey holds one device's private keys:
//   - an X25519 key used as the device's identity key in session setup
//     (the "IK" of PQXDH), and
//   - an envelope key, X25519 + ML-KEM-768 combined as the HPKE KEM
//     MLKEM768X25519 (X-Wing), to which sealed envelopes are encrypted.
//
// The two uses get separate keys so that no X25519 key serves two protocols.
type DevicePrivateKey struct {
	id     uint32
	dh     *ecdh.PrivateKey
	envDH  *ecdh.PrivateKey
	envKEM *mlkem.DecapsulationKey768
}

// GenerateDevice creates fresh keys for device id (which must not be 0).
func GenerateDevice(id uint32) (*DevicePrivateKey, error) {
	if id == 0 {
		return nil, ErrDeviceID
	}
	dh, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	envDH, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	envKEM, err := mlkem.GenerateKey768()
	if err != nil {
		return nil, err
	}
	return &DevicePrivateKey{id: id, dh: dh, envDH: envDH, envKEM: envKEM}, nil
}

// ID returns the device id.
func (d *DevicePrivateKey) ID() uint32 { return d.id }

// DH returns the device's X25519 session-setup key.
func (d *DevicePrivateKey) DH() *ecdh.PrivateKey { return d.dh }

// EnvelopeKey returns the private envelope key for crypto/hpke.
func (d *DevicePrivateKey) EnvelopeKey() hpke.PrivateKey {
	k, err := hpke.NewHybridPrivateKey(d.envKEM, d.envDH)
	if err != nil {
		// Both parts are valid by construction; a failure here is a bug.
		panic("identity: building X-Wing private key: " + err.Error())
	}
	return k
}

// EnvelopePublicKey returns the device's public envelope key.
func (d *DevicePrivateKey) EnvelopePublicKey() hpke.PublicKey {
	return d.EnvelopeKey().PublicKey()
}

// Marshal encodes the private keys: u8 version || u32 id || dh (32) ||
// envelope X25519 (32) || ML-KEM-768 seed (64). The result is secret.
func (d *DevicePrivateKey) Marshal() []byte {
	w := wire.NewWriter(make([]byte, 0, devicePrivateSize))
	w.U8(versionDevicePrivate)
	w.U32(d.id)
	w.Fixed(d.dh.Bytes())
	w.Fixed(d.envDH.Bytes())
	w.Fixed(d.envKEM.Bytes())
	return w.Bytes()
}

// ParseDevicePrivateKey decodes the output of Marshal.
func ParseDevicePrivateKey(b []byte) (*DevicePrivateKey, error) {
	const name = "device private key"
	if len(b) != devicePrivateSize {
		// Checked first so a wrong-sized input never reaches the key parsers.
		return nil, wire.Errorf(name, "", wire.ErrMalformed, "length %d, want %d", len(b), devicePrivateSize)
	}
	r := wire.NewReader(name, b)
	r.Version(versionDevicePrivate)
	id := r.U32("id")
	dhb, envb, seed := r.Fixed("dh", 32), r.Fixed("envelope.dh", 32), r.Fixed("envelope.kem", mlkem.SeedSize)
	if err := r.Done(); err != nil {
		return nil, err
	}
	if id == 0 {
		return nil, ErrDeviceID
	}
	dh, err1 := ecdh.X25519().NewPrivateKey(dhb)
	envDH, err2 := ecdh.X25519().NewPrivateKey(envb)
	envKEM, err3 := mlkem.NewDecapsulationKey768(seed)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, wire.Errorf(name, "keys", wire.ErrMalformed, "invalid key")
	}
	return &DevicePrivateKey{id: id, dh: dh, envDH: envDH, envKEM: envKEM}, nil
}

// DeviceCert is an identity key's statement that a device with these public
// keys belongs to the same user. Parsing verifies the signature, so every
// DeviceCert value in hush has been checked.
type DeviceCert struct {
	Identity *IdentityKey
	Device   uint32
	DH       *ecdh.PublicKey
	Envelope hpke.PublicKey
	Created  int64 // Unix seconds, from the certifying device's clock
	raw      []byte
}

// Certify signs a certificate for dev with the identity key, dated created
// (Unix seconds).
func Certify(id *IdentityPrivateKey, dev *DevicePrivateKey, created int64) *DeviceCert {
	w := wire.NewWriter(make([]byte, 0, DeviceCertSize))
	w.U8(versionDeviceCert)
	w.Fixed(id.Public().pub)
	w.U32(dev.id)
	w.Fixed(dev.dh.PublicKey().Bytes())
	w.Fixed(dev.EnvelopePublicKey().Bytes())
	w.U64(uint64(created))
	w.Fixed(id.Sign(labelDeviceCert, w.Bytes()))
	c, err := ParseDeviceCert(w.Bytes())
	if err != nil {
		panic("identity: certificate just made does not parse: " + err.Error())
	}
	return c
}

// ParseDeviceCert decodes a certificate and verifies its signature.
func ParseDeviceCert(b []byte) (*DeviceCert, error) {
	const name = "device certificate"
	r := wire.NewReader(name, b)
	r.Version(versionDeviceCert)
	idb := r.Fixed("identity", IdentityKeySize)
	dev := r.U32("device")
	dhb := r.Fixed("dh", DHKeySize)
	envb := r.Fixed("envelope", EnvelopeKeySize)
	created := r.U64("created")
	signed := len(b) - r.Len()
	sig := r.Fixed("signature", SignatureSize)
	if err := r.Done(); err != nil {
		return nil, err
	}
	if dev == 0 {
		return nil, wire.Errorf(name, "device", wire.ErrMalformed, "device id 0 is reserved")
	}
	idk, _ := NewIdentityKey(idb)
	// The signature is checked before the keys are used for anything: an
	// attacker who swaps a device's keys in the directory is caught here.
	if err := idk.Verify(labelDeviceCert, b[:signed], sig); err != nil {
		return nil, fmt.Errorf("hush: device certificate: %w", err)
	}
	dh, err := ecdh.X25519().NewPublicKey(dhb)
	if err != nil {
		return nil, wire.Errorf(name, "dh", wire.ErrMalformed, "invalid X25519 key")
	}
	env, err := hpke.MLKEM768X25519().NewPublicKey(envb)
	if err != nil {
		return nil, wire.Errorf(name, "envelope", wire.ErrMalformed, "invalid X-Wing key")
	}
	return &DeviceCert{Identity: idk, Device: dev, DH: dh, Envelope: env, Created: int64(created),
		raw: append([]byte(nil), b...)}, nil
}

// Marshal returns the certificate's encoding (exactly the bytes parsed or
// signed).
func (c *DeviceCert) Marshal() []byte { return append([]byte(nil), c.raw...) }

// Matches reports whether the certificate describes exactly dev's keys.
func (c *DeviceCert) Matches(dev *DevicePrivateKey) bool {
	return c.Device == dev.id && c.DH.Equal(dev.dh.PublicKey()) &&
		string(c.Envelope.Bytes()) == string(dev.EnvelopePublicKey().Bytes())
}

// labelMailbox derives mailbox ids (doc/SPEC.md §10).
const labelMailbox = "hush/v1 mailbox"

// MailboxID returns the opaque relay mailbox id of a device: the first 16
// bytes of SHA-256(label || 0x00 || identity key || u32 device), in lower-case
// hex (32 characters). Anyone can compute it from the device's certificate,
// so a directory cannot route a device's mail elsewhere without the sender
// noticing; the relay sees only this id, never the username.
func MailboxID(id *IdentityKey, device uint32) string {
	w := wire.NewWriter(nil)
	w.Fixed([]byte(labelMailbox))
	w.U8(0)
	w.Fixed(id.pub)
	w.U32(device)
	h := sha256.Sum256(w.Bytes())
	return hex.EncodeToString(h[:16])
}
