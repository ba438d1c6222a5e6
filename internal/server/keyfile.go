package server

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/hush-chat/hush/internal/identity"
)

const serverKeyFile = "server.key"

// Encrypted key file: magic || salt (16) || nonce (24) || XChaCha20-Poly1305
// of the 32-byte seed under Argon2id(passphrase, salt, t=3, m=64 MiB, p=2),
// with the magic as associated data. A plain key file is the bare seed.
var keyMagic = []byte("hush-server-key-v1\n")

const (
	keyArgonTime   = 3
	keyArgonMemory = 64 << 10
	keyArgonLanes  = 2
)

// ErrKeyPassphrase is returned when the key file is encrypted and the
// passphrase is missing or wrong.
var ErrKeyPassphrase = errors.New("server key: wrong or missing passphrase (HUSH_SERVER_KEY_PASSPHRASE)")

// loadOrCreateKey reads the server's signing key from dir, creating it on
// first start. With a passphrase the file is encrypted; without one it
// holds the bare seed, readable by the owner only (the directory is
// owner-only too), so that an unattended server can start.
func loadOrCreateKey(dir string, passphrase []byte) (*identity.IdentityPrivateKey, bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, serverKeyFile)
	k, err := ReadKeyFile(path, passphrase)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, err = WriteNewKeyFile(path, passphrase)
	if errors.Is(err, fs.ErrExist) {
		// Two servers starting on one fresh directory must not both
		// write a key; the loser reads the winner's.
		k, err = ReadKeyFile(path, passphrase)
		return k, false, err
	}
	return k, err == nil, err
}

// ReadKeyFile reads a server signing key file, encrypted under
// passphrase or not. A missing file is an error matching fs.ErrNotExist.
func ReadKeyFile(path string, passphrase []byte) (*identity.IdentityPrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("server key %s: %w (make one with hush server keygen)", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("server key: %w", err)
	}
	seed, err := openKeyFile(b, passphrase)
	if err != nil {
		return nil, err
	}
	k, err := identity.NewIdentityPrivateKey(seed)
	if err != nil {
		return nil, fmt.Errorf("server key %s: not a hush server key file", path)
	}
	return k, nil
}

// WriteNewKeyFile makes a new server signing key and writes it to path
// (owner-only, encrypted when passphrase is not empty). It never replaces
// a file: an existing path is an error matching fs.ErrExist.
func WriteNewKeyFile(path string, passphrase []byte) (*identity.IdentityPrivateKey, error) {
	k, err := identity.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	content, err := sealKeyFile(k.Seed(), passphrase)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	_, err = f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("server key: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	return k, nil
}

// syncDir makes a new entry of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func sealKeyFile(seed, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return seed, nil
	}
	salt := make([]byte, 16)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(argon2.IDKey(passphrase, salt, keyArgonTime, keyArgonMemory, keyArgonLanes, 32))
	if err != nil {
		return nil, err
	}
	out := append(append(bytes.Clone(keyMagic), salt...), nonce...)
	return aead.Seal(out, nonce, seed, keyMagic), nil
}

func openKeyFile(b, passphrase []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, keyMagic) {
		if len(passphrase) > 0 {
			// A passphrase was given for a plain key: refuse rather than
			// silently run with a key the operator believes encrypted.
			return nil, errors.New("server key: the key file is not encrypted but a passphrase was given")
		}
		return b, nil
	}
	rest := b[len(keyMagic):]
	if len(passphrase) == 0 || len(rest) < 16+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, ErrKeyPassphrase
	}
	salt, nonce, ct := rest[:16], rest[16:16+chacha20poly1305.NonceSizeX], rest[16+chacha20poly1305.NonceSizeX:]
	aead, err := chacha20poly1305.NewX(argon2.IDKey(passphrase, salt, keyArgonTime, keyArgonMemory, keyArgonLanes, 32))
	if err != nil {
		return nil, err
	}
	seed, err := aead.Open(nil, nonce, ct, keyMagic)
	if err != nil {
		return nil, ErrKeyPassphrase
	}
	return seed, nil
}
