package storage

import (
	"encoding/binary"
	"errors"
	"math"
)

// The meta record is the one plaintext row of a profile: table MetaTable,
// key MetaKey. It is read before anything can be authenticated, so the
// layer above checks every field's range before obeying it.
const (
	MetaTable = "meta"
	MetaKey   = "profile"
)

// Key derivations a profile's Meta names.
const (
	KDFArgon2id = "argon2id" // a passphrase, through Argon2id with Time, Memory, Threads
	KDFKey      = "key"      // a 32-byte application key, no work factor
)

// Meta says how to unlock a profile.
type Meta struct {
	Version  uint32 // format version of the layer above
	KDF      string // KDFArgon2id or KDFKey
	Salt     []byte
	Time     uint32 // Argon2id passes
	Memory   uint32 // Argon2id memory, KiB
	Threads  uint8  // Argon2id lanes
	Verifier []byte // a fixed label sealed under the derived key
}

// ErrBadMeta: the meta record does not parse.
var ErrBadMeta = errors.New("storage: malformed profile metadata")

// Marshal encodes m: uvarints and length-prefixed byte strings, in field
// order.
func (m *Meta) Marshal() []byte {
	b := binary.AppendUvarint(nil, uint64(m.Version))
	b = appendBytes(b, []byte(m.KDF))
	b = appendBytes(b, m.Salt)
	b = binary.AppendUvarint(b, uint64(m.Time))
	b = binary.AppendUvarint(b, uint64(m.Memory))
	b = binary.AppendUvarint(b, uint64(m.Threads))
	return appendBytes(b, m.Verifier)
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ParseMeta decodes what Marshal encoded, refusing trailing data and
// numbers out of their type's range.
func ParseMeta(b []byte) (*Meta, error) {
	p := parser{b: b}
	m := &Meta{
		Version: uint32(p.uint(math.MaxUint32)),
		KDF:     string(p.bytes()),
		Salt:    p.bytes(),
		Time:    uint32(p.uint(math.MaxUint32)),
		Memory:  uint32(p.uint(math.MaxUint32)),
		Threads: uint8(p.uint(math.MaxUint8)),
	}
	m.Verifier = p.bytes()
	if p.bad || len(p.b) != 0 {
		return nil, ErrBadMeta
	}
	return m, nil
}

type parser struct {
	b   []byte
	bad bool
}

func (p *parser) uint(max uint64) uint64 {
	v, n := binary.Uvarint(p.b)
	if n <= 0 || v > max {
		p.bad = true
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *parser) bytes() []byte {
	l := p.uint(uint64(len(p.b)))
	if p.bad || l > uint64(len(p.b)) {
		p.bad = true
		return nil
	}
	s := append([]byte(nil), p.b[:l]...)
	p.b = p.b[l:]
	return s
}

// ReadMeta returns the meta record of tx's backend; ok is false if there
// is none (no profile yet).
func ReadMeta(tx Tx) (m *Meta, ok bool, err error) {
	v, ok, err := tx.Get(MetaTable, []byte(MetaKey))
	if err != nil || !ok {
		return nil, false, err
	}
	m, err = ParseMeta(v)
	return m, err == nil, err
}

// WriteMeta stores m as the meta record.
func WriteMeta(tx Tx, m *Meta) error {
	return tx.Put(MetaTable, []byte(MetaKey), m.Marshal())
}
