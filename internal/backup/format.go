package backup

import (
	"encoding/binary"
	"fmt"
)

// A Backup is a parsed backup (doc/SPEC.md §16.4):
//
//	backup  = header || payload
//	header  = u8(0x01) || salt (16) || u32(t) || u32(m KiB) || u8(p)
//	          || b8(pass_wrap) || b8(recovery_wrap or empty) || tag (32)
//	payload = nonce (12) || AES-256-GCM ciphertext of the payload bytes
//
// A Backup is immutable: Rewrap and AddRecovery return a new one.
type Backup struct {
	salt         [SaltSize]byte
	params       Params
	passWrap     []byte // wrapSize bytes
	recoveryWrap []byte // empty or wrapSize bytes
	tag          [tagSize]byte
	payload      []byte // nonce || ciphertext
}

// Parse decodes a backup strictly: version 0x01, parameters within
// [MinParams, MaxParams], wraps of exactly 60 bytes (the recovery wrap
// may be absent), a payload of at least a nonce and a GCM tag. It
// authenticates nothing: that needs a key (OpenWithKey, OpenWithRecovery).
// The server may use it to refuse an upload that is not a backup.
func Parse(data []byte) (*Backup, error) {
	if len(data) < prefixSize {
		return nil, malformed("the header is truncated")
	}
	if data[0] != version {
		return nil, malformed(fmt.Sprintf("unknown version %d", data[0]))
	}
	b := &Backup{}
	copy(b.salt[:], data[1:1+SaltSize])
	rest := data[1+SaltSize:]
	b.params = Params{
		Time:      binary.BigEndian.Uint32(rest[0:4]),
		MemoryKiB: binary.BigEndian.Uint32(rest[4:8]),
		Threads:   rest[8],
	}
	// A hostile server could otherwise hand the client cheap parameters
	// (to re-wrap under later) or huge ones (to exhaust its memory).
	if err := b.params.Check(); err != nil {
		return nil, malformed(err.Error())
	}
	rest = rest[9:]
	var ok bool
	if b.passWrap, rest, ok = readB8(rest); !ok || len(b.passWrap) != wrapSize {
		return nil, malformed("the passphrase wrap is missing or not 60 bytes")
	}
	if b.recoveryWrap, rest, ok = readB8(rest); !ok || (len(b.recoveryWrap) != 0 && len(b.recoveryWrap) != wrapSize) {
		return nil, malformed("the recovery wrap is truncated or not 0 or 60 bytes")
	}
	if len(rest) < tagSize {
		return nil, malformed("the header tag is truncated")
	}
	copy(b.tag[:], rest)
	rest = rest[tagSize:]
	// A payload shorter than a nonce and a GCM tag cannot be a ciphertext.
	if len(rest) < minPayload {
		return nil, malformed("the payload is truncated")
	}
	b.payload = append([]byte(nil), rest...)
	if len(b.recoveryWrap) == 0 {
		b.recoveryWrap = nil
	}
	b.passWrap = append([]byte(nil), b.passWrap...)
	b.recoveryWrap = append([]byte(nil), b.recoveryWrap...)
	return b, nil
}

// Bytes encodes the backup.
func (b *Backup) Bytes() []byte {
	return append(b.Header(), b.payload...)
}

// Header returns the encoded header: what Rewrap and AddRecovery change
// (the payload stays the same bytes).
func (b *Backup) Header() []byte {
	return append(b.signed(), b.tag[:]...)
}

// Payload returns the encrypted payload (nonce || ciphertext).
func (b *Backup) Payload() []byte { return append([]byte(nil), b.payload...) }

// Params returns the header's Argon2id parameters.
func (b *Backup) Params() Params { return b.params }

// HasRecovery reports whether the backup has a recovery wrap.
func (b *Backup) HasRecovery() bool { return len(b.recoveryWrap) != 0 }

// prefix is the header's fixed part: version, salt and parameters.
func (b *Backup) prefix() []byte {
	p := make([]byte, 0, prefixSize)
	p = append(p, version)
	p = append(p, b.salt[:]...)
	p = binary.BigEndian.AppendUint32(p, b.params.Time)
	p = binary.BigEndian.AppendUint32(p, b.params.MemoryKiB)
	return append(p, b.params.Threads)
}

// signed is the header without its tag: what the tag authenticates.
func (b *Backup) signed() []byte {
	h := b.prefix()
	h = b8(h, b.passWrap)
	return b8(h, b.recoveryWrap)
}

func readB8(b []byte) (v, rest []byte, ok bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, nil, false
	}
	n := int(b[0])
	return b[1 : 1+n], b[1+n:], true
}

func malformed(what string) error { return fmt.Errorf("%w (%s)", ErrMalformed, what) }
