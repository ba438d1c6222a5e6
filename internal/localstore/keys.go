package localstore

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/hush-chat/hush/internal/storage"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Labels of the key schedule (see the package documentation).
const (
	infoEncryption = "hush localstore v1 encryption"
	infoIndex      = "hush localstore v1 index"
	verifierLabel  = "hush localstore v1 verifier"
	infoAppKey     = "hush localstore v1 application key"
	saltSize       = 16
	keySize        = 32
)

// Params are the Argon2id cost parameters of a profile. They are stored in
// the profile, so each profile opens with the parameters it was created
// (or last re-keyed) with.
type Params struct {
	Time    uint32 // passes over memory
	Memory  uint32 // KiB
	Threads uint8  // lanes
}

// DefaultParams are the parameters new profiles (and profiles whose
// passphrase changes) get: 12 MiB and three passes, one of the settings
// OWASP lists as equivalent for Argon2id, on two lanes. Every hush command
// opens the profile in a fresh process, where the first pass over fresh
// memory costs a page fault per 4 KiB: measured in new processes here,
// 46 MiB × 1 pass took 126 ms, 19 MiB × 2 took 62 ms, 12 MiB × 3 took
// 44 ms — and `hush send` must finish in 150 ms in all. Profiles store
// their parameters, so they can be raised later.
var DefaultParams = Params{Time: 3, Memory: 12 << 10, Threads: 2}

// Bounds on stored parameters. The meta table is not authenticated before
// the key is derived, so a tampered file could otherwise make Open
// allocate without limit or spin for hours.
const (
	maxTime   = 64
	maxMemory = 4 << 20 // 4 GiB in KiB
)

func (p Params) valid() error {
	if p.Time < 1 || p.Time > maxTime || p.Threads < 1 ||
		p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory {
		return fmt.Errorf("%w: Argon2id parameters t=%d m=%d p=%d out of range",
			ErrCorrupt, p.Time, p.Memory, p.Threads)
	}
	return nil
}

// keys are what a passphrase unlocks.
type keys struct {
	aead     cipher.AEAD // XChaCha20-Poly1305 under the encryption key
	index    []byte      // HMAC key for blinded row keys
	verifier []byte      // the stored verifier these keys open
}

// Key is what unlocks a profile: a passphrase, stretched with Argon2id
// under parameters stored in the profile, or a 32-byte key that the
// application keeps (in a platform keychain, say), used without a work
// factor.
type Key struct {
	passphrase []byte
	raw        []byte
	params     Params // for a new profile or a new passphrase
}

// Passphrase is a Key from a passphrase.
func Passphrase(p []byte) Key { return Key{passphrase: p, params: DefaultParams} }

// AppKey is a Key from 32 bytes the application holds. It must be
// uniformly random (crypto/rand), not derived from anything guessable.
func AppKey(k []byte) Key { return Key{raw: k} }

func (k Key) kdf() string {
	if k.raw != nil {
		return storage.KDFKey
	}
	return storage.KDFArgon2id
}

func (k Key) check() error {
	if k.raw != nil && len(k.raw) != keySize || k.raw == nil && len(k.passphrase) == 0 {
		return ErrBadKey
	}
	return nil
}

// master runs the first step of the key schedule: Argon2id for a
// passphrase (the one costly step), HKDF under the profile's salt for an
// application key, so one key used for two profiles blinds their rows
// differently.
func (k Key) master(m *storage.Meta) ([]byte, error) {
	if m.KDF == storage.KDFKey {
		return hkdf.Key(sha256.New, k.raw, m.Salt, infoAppKey, keySize)
	}
	p := Params{Time: m.Time, Memory: m.Memory, Threads: m.Threads}
	return argon2.IDKey(k.passphrase, m.Salt, p.Time, p.Memory, p.Threads, keySize), nil
}

// deriveKeys runs the key schedule.
func deriveKeys(key Key, m *storage.Meta) (*keys, error) {
	master, err := key.master(m)
	if err != nil {
		return nil, fmt.Errorf("localstore: derive keys: %w", err)
	}
	defer clear(master)
	enc, err := hkdf.Key(sha256.New, master, nil, infoEncryption, keySize)
	if err != nil {
		return nil, fmt.Errorf("localstore: derive keys: %w", err)
	}
	defer clear(enc)
	index, err := hkdf.Key(sha256.New, master, nil, infoIndex, keySize)
	if err != nil {
		return nil, fmt.Errorf("localstore: derive keys: %w", err)
	}
	aead, err := chacha20poly1305.NewX(enc)
	if err != nil {
		return nil, fmt.Errorf("localstore: derive keys: %w", err)
	}
	return &keys{aead: aead, index: index}, nil
}

// newKeys creates a fresh salt and keys for key, and the meta record
// they will be recognized by.
func newKeys(key Key) (*keys, *storage.Meta, error) {
	if err := key.check(); err != nil {
		return nil, nil, err
	}
	m := &storage.Meta{Version: formatVersion, KDF: key.kdf(), Salt: make([]byte, saltSize)}
	if m.KDF == storage.KDFArgon2id {
		if err := key.params.valid(); err != nil {
			return nil, nil, err
		}
		m.Time, m.Memory, m.Threads = key.params.Time, key.params.Memory, key.params.Threads
	}
	rand.Read(m.Salt)
	k, err := deriveKeys(key, m)
	if err != nil {
		return nil, nil, err
	}
	k.verifier = k.seal([]byte(verifierLabel), "meta", []byte("verifier"))
	m.Verifier = k.verifier
	return k, m, nil
}

// unlock derives the keys of a stored profile and checks them against its
// verifier: only the right passphrase or key opens it. The meta record is
// not authenticated, so every field is checked before it is obeyed.
func unlock(key Key, m *storage.Meta) (*keys, error) {
	if m.Version != formatVersion {
		return nil, fmt.Errorf("localstore: profile format version %d is not supported (this build reads %d)",
			m.Version, formatVersion)
	}
	if m.KDF != storage.KDFArgon2id && m.KDF != storage.KDFKey {
		return nil, fmt.Errorf("%w: unknown key derivation", ErrCorrupt)
	}
	if m.KDF == storage.KDFArgon2id {
		if err := (Params{Time: m.Time, Memory: m.Memory, Threads: m.Threads}).valid(); err != nil {
			return nil, err
		}
	}
	if len(m.Salt) != saltSize {
		return nil, fmt.Errorf("%w: salt of %d bytes", ErrCorrupt, len(m.Salt))
	}
	if key.kdf() != m.KDF {
		return nil, ErrKeyKind
	}
	if key.raw != nil && len(key.raw) != keySize {
		return nil, ErrBadKey
	}
	k, err := deriveKeys(key, m)
	if err != nil {
		return nil, err
	}
	label, err := k.open(m.Verifier, "meta", []byte("verifier"))
	if err != nil || !hmac.Equal(label, []byte(verifierLabel)) {
		k.wipe()
		return nil, ErrWrongPassphrase
	}
	k.verifier = m.Verifier
	return k, nil
}

// wipe clears the key material that is ours to clear (the AEAD keeps its
// own copy of the encryption key, out of reach).
func (k *keys) wipe() {
	clear(k.index)
	k.aead = nil
}

// aad binds a sealed value to its table and row: table || 0x00 || row key.
func aad(table string, rowKey []byte) []byte {
	b := make([]byte, 0, len(table)+1+len(rowKey))
	b = append(b, table...)
	b = append(b, 0)
	return append(b, rowKey...)
}

// seal encrypts plaintext for the row rowKey of table: nonce || ciphertext.
func (k *keys) seal(plaintext []byte, table string, rowKey []byte) []byte {
	ns := k.aead.NonceSize()
	out := make([]byte, ns, ns+len(plaintext)+k.aead.Overhead())
	rand.Read(out)
	return k.aead.Seal(out, out, plaintext, aad(table, rowKey))
}

// open decrypts a value sealed for the row rowKey of table. A value that
// was altered, or sealed for another row or table or under another key,
// fails with ErrCorrupt.
func (k *keys) open(value []byte, table string, rowKey []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(value) < ns+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: %s value too short", ErrCorrupt, table)
	}
	pt, err := k.aead.Open(nil, value[:ns], value[ns:], aad(table, rowKey))
	if err != nil {
		return nil, fmt.Errorf("%w: %s value does not authenticate", ErrCorrupt, table)
	}
	return pt, nil
}

// blind is the row key of name in table: HMAC(index, table || 0x00 || name).
// Table names contain no 0x00, so distinct (table, name) pairs never share
// an input.
func (k *keys) blind(table string, name []byte) []byte {
	m := hmac.New(sha256.New, k.index)
	m.Write([]byte(table))
	m.Write([]byte{0})
	m.Write(name)
	return m.Sum(nil)
}
