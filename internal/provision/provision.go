// Package provision is the cryptography of linking a device (doc/SPEC.md
// §3.8): the link code a new device shows, the fingerprint both devices
// show, and the provisioning message an existing device seals to the new
// device's one-time X-Wing key. It is pure: no network, disk or clock.
package provision

import (
	"bytes"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/hush-chat/hush/internal/wire"
)

// Labels and sizes (doc/SPEC.md §3.8).
const (
	labelKeyHash = "hush/v2 link key"
	labelInfo    = "hush/v2 link provisioning"
	// CodePrefix starts every link code.
	CodePrefix = "HUSH-LINK-"
	// SlotIDSize is the size of a link slot id (the server's, random).
	SlotIDSize  = 10
	keyHashSize = 15
	// version 0x02 added the groups; a 0x01 message is refused (a new
	// device is linked by a client of its own release).
	version = 0x02
	// MaxContacts bounds the contacts blob of a provisioning message.
	MaxContacts = 2 << 20
	// MaxGroups bounds the groups blob of a provisioning message.
	MaxGroups = 2 << 20
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrCode is returned (wrapped) for a link code that does not parse.
var ErrCode = errors.New("not a hush link code")

// ErrKeyMismatch: the key the server returned for a slot is not the one
// the code names.
var ErrKeyMismatch = errors.New("the server returned another key than the link code names")

// Key is the new device's one-time link key pair.
type Key struct{ priv hpke.PrivateKey }

// NewKey makes a fresh link key.
func NewKey() (*Key, error) {
	k, err := hpke.MLKEM768X25519().GenerateKey()
	if err != nil {
		return nil, err
	}
	return &Key{priv: k}, nil
}

// Public returns the encoded public key (1216 bytes).
func (k *Key) Public() []byte { return k.priv.PublicKey().Bytes() }

func keyHash(pub []byte) []byte {
	h := sha256.New()
	h.Write([]byte(labelKeyHash))
	h.Write([]byte{0})
	h.Write(pub)
	return h.Sum(nil)
}

// RecoveryPrefix starts every recovery code (the same form as a link
// code, for a recovery request).
const RecoveryPrefix = "HUSH-RECOVER-"

// Code returns the link code for slot id (the server's, base32) and pub:
// HUSH-LINK- and base32 of slot id || first 15 bytes of the key's hash.
func Code(slotID string, pub []byte) (string, error) { return CodeFor(CodePrefix, slotID, pub) }

// CodeFor is Code with another prefix (RecoveryPrefix).
func CodeFor(prefix, slotID string, pub []byte) (string, error) {
	id, err := b32.DecodeString(slotID)
	if err != nil || len(id) != SlotIDSize {
		return "", fmt.Errorf("%w: malformed slot id", ErrCode)
	}
	return prefix + b32.EncodeToString(append(id, keyHash(pub)[:keyHashSize]...)), nil
}

// ParseCode returns the slot id and the key hash a code carries. Spaces,
// dashes after the prefix and lower case are forgiven.
func ParseCode(code string) (slotID string, hash []byte, err error) {
	return ParseCodeFor(CodePrefix, code)
}

// ParseCodeFor is ParseCode for codes with prefix.
func ParseCodeFor(prefix, code string) (slotID string, hash []byte, err error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	rest, ok := strings.CutPrefix(c, prefix)
	if !ok {
		return "", nil, fmt.Errorf("%w: it starts with %s", ErrCode, prefix)
	}
	rest = strings.NewReplacer(" ", "", "-", "").Replace(rest)
	b, err := b32.DecodeString(rest)
	if err != nil || len(b) != SlotIDSize+keyHashSize {
		return "", nil, fmt.Errorf("%w: it is cut short or mistyped", ErrCode)
	}
	return b32.EncodeToString(b[:SlotIDSize]), b[SlotIDSize:], nil
}

// CheckKey checks that pub is the key a code's hash names.
func CheckKey(hash, pub []byte) error {
	if subtle.ConstantTimeCompare(keyHash(pub)[:keyHashSize], hash) != 1 {
		return ErrKeyMismatch
	}
	return nil
}

// Fingerprint is what both devices show so the person can compare: five
// groups of five digits from the key's hash.
func Fingerprint(pub []byte) string {
	h := keyHash(pub)
	parts := make([]string, 5)
	for i := range parts {
		var v uint64
		for _, b := range h[16+3*i : 16+3*i+3] {
			v = v<<8 | uint64(b)
		}
		parts[i] = fmt.Sprintf("%05d", v%100000)
	}
	return strings.Join(parts, " ")
}

// Message is what an existing device hands the new one.
type Message struct {
	Username     string
	IdentitySeed []byte // 32 bytes, secret
	DeviceID     uint32 // the id the new device takes
	ServerKey    []byte // the server's signing key the account trusts
	DeviceList   []byte // the account's current signed device list (§3.6); may be empty
	Contacts     []byte // the contacts, as the client encodes them (opaque here); may be empty
	// Groups are the user's groups, as the client encodes them (opaque
	// here; membership state, never a sending chain); may be empty.
	Groups []byte
}

func (m *Message) encode() []byte {
	w := wire.NewWriter(nil)
	w.U8(version)
	w.Bytes8([]byte(m.Username))
	w.Fixed(m.IdentitySeed)
	w.U32(m.DeviceID)
	w.Bytes8(m.ServerKey)
	w.Bytes32(m.DeviceList)
	w.Bytes32(m.Contacts)
	w.Bytes32(m.Groups)
	return w.Bytes()
}

func decode(b []byte) (*Message, error) {
	r := wire.NewReader("provisioning message", b)
	r.Version(version)
	m := &Message{Username: string(r.Bytes8("username", 255))}
	m.IdentitySeed = bytes.Clone(r.Fixed("identity seed", 32))
	m.DeviceID = r.U32("device id")
	m.ServerKey = bytes.Clone(r.Bytes8("server key", 255))
	m.DeviceList = bytes.Clone(r.Bytes32("device list", 1<<16))
	m.Contacts = bytes.Clone(r.Bytes32("contacts", MaxContacts))
	m.Groups = bytes.Clone(r.Bytes32("groups", MaxGroups))
	if err := r.Done(); err != nil {
		return nil, err
	}
	if m.Username == "" || m.DeviceID == 0 {
		return nil, wire.Errorf("provisioning message", "", wire.ErrMalformed, "no username or device id 0")
	}
	return m, nil
}

func info(slotID string) []byte { return append([]byte(labelInfo+"\x00"), slotID...) }

// Seal encrypts m to the new device's key pub for slot slotID. The slot id
// is bound in the HPKE info: an answer cannot be moved to another slot.
func Seal(pub []byte, slotID string, m *Message) ([]byte, error) {
	if len(m.IdentitySeed) != 32 {
		return nil, errors.New("provision: identity seed must be 32 bytes")
	}
	pk, err := hpke.MLKEM768X25519().NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("provision: link key: %w", err)
	}
	return hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), info(slotID), m.encode())
}

// Open decrypts a provisioning message for slot slotID with k.
func (k *Key) Open(slotID string, ct []byte) (*Message, error) {
	pt, err := hpke.Open(k.priv, hpke.HKDFSHA256(), hpke.AES256GCM(), info(slotID), ct)
	if err != nil {
		return nil, errors.New("provision: the answer does not open with this device's link key")
	}
	defer clear(pt)
	return decode(pt)
}

// labelShare is the HPKE info label of a recovery share sealed to a
// recovery request's key (doc/SPEC.md §15.8).
const labelShare = "hush/v2 recovery share"

// SealShare seals a holder's answer to a recovery request's key pub,
// bound to the request's slot id.
func SealShare(pub []byte, slotID string, pt []byte) ([]byte, error) {
	pk, err := hpke.MLKEM768X25519().NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("provision: recovery key: %w", err)
	}
	return hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), append([]byte(labelShare+"\x00"), slotID...), pt)
}

// OpenShare opens an answer SealShare made for slotID.
func (k *Key) OpenShare(slotID string, ct []byte) ([]byte, error) {
	pt, err := hpke.Open(k.priv, hpke.HKDFSHA256(), hpke.AES256GCM(), append([]byte(labelShare+"\x00"), slotID...), ct)
	if err != nil {
		return nil, errors.New("provision: the answer does not open with this request's key")
	}
	return pt, nil
}
