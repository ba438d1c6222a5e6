package backup

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// Params are the Argon2id parameters of a backup key, stored in the
// backup's header (doc/SPEC.md §16.3).
type Params struct {
	Time      uint32 // passes (t)
	MemoryKiB uint32 // memory in KiB (m)
	Threads   uint8  // lanes (p)
}

var (
	// DefaultParams are the parameters new backups use: RFC 9106's second
	// recommended option (t=3, m=64 MiB, p=4).
	DefaultParams = Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}
	// MinParams bound a header from below: a server that substitutes a
	// header cannot make the client derive (or re-wrap) with a cheaper
	// function than the default; p may be lower (fewer lanes of the same
	// memory cost an attacker as much).
	MinParams = Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 1}
	// MaxParams bound a header from above, so that a hostile header cannot
	// make a client allocate or compute without bound.
	MaxParams = Params{Time: 16, MemoryKiB: 1024 * 1024, Threads: 16}
)

// Check reports whether p lies within [MinParams, MaxParams].
func (p Params) Check() error {
	switch {
	case p.Time < MinParams.Time || p.MemoryKiB < MinParams.MemoryKiB || p.Threads < MinParams.Threads:
		return fmt.Errorf("the Argon2id parameters (t=%d, m=%d KiB, p=%d) are below the minimum (t=%d, m=%d KiB, p=%d)",
			p.Time, p.MemoryKiB, p.Threads, MinParams.Time, MinParams.MemoryKiB, MinParams.Threads)
	case p.Time > MaxParams.Time || p.MemoryKiB > MaxParams.MemoryKiB || p.Threads > MaxParams.Threads:
		return fmt.Errorf("the Argon2id parameters (t=%d, m=%d KiB, p=%d) are above the maximum (t=%d, m=%d KiB, p=%d)",
			p.Time, p.MemoryKiB, p.Threads, MaxParams.Time, MaxParams.MemoryKiB, MaxParams.Threads)
	}
	return nil
}

// A Key is a backup key: Argon2id of the OPRF output under one salt and
// one set of parameters, which it carries so that Seal and Rewrap write
// them into the header they make. It is secret.
type Key struct {
	key    [KeySize]byte
	salt   [SaltSize]byte
	params Params
}

// Params returns the parameters the key was derived with.
func (k *Key) Params() Params { return k.params }

// NewKey derives a backup key for a new header (Seal, Rewrap) from the OPRF
// output, under a fresh random salt and the parameters p.
func NewKey(output []byte, p Params) (*Key, error) {
	var salt [SaltSize]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, err
	}
	return deriveKey(output, salt, p)
}

// KeyFor derives the backup key of an existing backup from the OPRF output,
// with the salt and parameters of its header (checked when it was parsed).
func KeyFor(b *Backup, output []byte) (*Key, error) {
	return deriveKey(output, b.salt, b.params)
}

func deriveKey(output []byte, salt [SaltSize]byte, p Params) (*Key, error) {
	if len(output) != OutputSize {
		return nil, fmt.Errorf("%w: the OPRF output must be %d bytes", ErrInvalid, OutputSize)
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	k := &Key{salt: salt, params: p}
	copy(k.key[:], argon2.IDKey(output, salt[:], p.Time, p.MemoryKiB, p.Threads, KeySize))
	return k, nil
}

// subkey derives a 32-byte key for one use from a secret that serves
// several (the content key) or comes from outside (the recovery secret).
func subkey(secret []byte, label string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, label, KeySize)
	if err != nil {
		panic("backup: HKDF: " + err.Error()) // only for lengths > 255*32
	}
	return k
}
