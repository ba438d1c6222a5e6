package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hush-chat/hush/internal/identity"
)

const serverKeyFile = "server.key"

// loadOrCreateKey reads the server's signing key from dir, creating it on
// first start. The file holds the 32-byte Ed25519 seed and is readable by
// the owner only; the directory is created owner-only too.
func loadOrCreateKey(dir string) (*identity.IdentityPrivateKey, bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, serverKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := identity.NewIdentityPrivateKey(b)
		if err != nil {
			return nil, false, fmt.Errorf("server key %s: %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("server key: %w", err)
	}
	k, err := identity.GenerateIdentity()
	if err != nil {
		return nil, false, err
	}
	// O_EXCL: two servers starting on one fresh directory must not both
	// write a key; the loser reads the winner's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadOrCreateKey(dir)
	}
	if err != nil {
		return nil, false, fmt.Errorf("server key: %w", err)
	}
	if _, err := f.Write(k.Seed()); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("server key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("server key: %w", err)
	}
	return k, true, f.Close()
}
