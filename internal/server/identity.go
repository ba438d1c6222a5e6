package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/server/sqlstore"
)

var (
	// ErrServerKeyMismatch: the server's signing key is not the one the
	// database records. Its clients pinned the recorded key: a server
	// signing with another would be refused by every one of them.
	ErrServerKeyMismatch = errors.New("server key: not the key this database was created with")
	// ErrServerKeyMissing: the server has no signing key of its own (no
	// --signing-key, no server.key in the data directory) and the
	// database already serves users: it must not make a new key for them.
	ErrServerKeyMissing = errors.New("server key: none given for a database that already has one")
)

// keyError is a refusal to start with a signing key: one line naming
// the key the database expects and what to do.
type keyError struct {
	kind error
	msg  string
}

func (e *keyError) Error() string { return e.msg }
func (e *keyError) Unwrap() error { return e.kind }

// configuredKey reads the key file cfg.SigningKey names, before anything
// is opened; nil when none is named.
func configuredKey(cfg Config) (*identity.IdentityPrivateKey, error) {
	if cfg.SigningKey == "" {
		return nil, nil
	}
	return ReadKeyFile(cfg.SigningKey, []byte(cfg.KeyPassphrase))
}

// loadServerKey returns the signing key this server runs with, checked
// against the key the database records (recording it on a new
// database): key, read from cfg.SigningKey, else server.key in the data
// directory, made there only while the database serves nobody under
// another key.
func loadServerKey(ctx context.Context, cfg Config, key *identity.IdentityPrivateKey, st *sqlstore.DB, log *slog.Logger) (*identity.IdentityPrivateKey, error) {
	pass := []byte(cfg.KeyPassphrase)
	var err error
	created := false
	source := cfg.SigningKey
	if key == nil {
		source = filepath.Join(cfg.DataDir, serverKeyFile)
		key, err = ReadKeyFile(source, pass)
		if errors.Is(err, fs.ErrNotExist) {
			recorded, rerr := st.ServerKey(ctx)
			if rerr != nil {
				return nil, fmt.Errorf("database: %w", rerr)
			}
			if recorded != nil {
				return nil, &keyError{ErrServerKeyMissing, fmt.Sprintf(
					"the database expects server key %s but %s does not exist: start with that key (--signing-key FILE, or copy its server.key into %s); a new key would be refused by every client",
					fingerprintOf(recorded), source, cfg.DataDir)}
			}
			key, created, err = loadOrCreateKey(cfg.DataDir, pass)
		}
		if err != nil {
			return nil, err
		}
	}
	pub := key.Public().Bytes()
	recorded, accounts, err := st.ClaimServerKey(ctx, pub, !created)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if recorded == nil {
		// A database from before the key was recorded, with users, met
		// a key made just now: not the one they pinned.
		os.Remove(source)
		return nil, &keyError{ErrServerKeyMissing, fmt.Sprintf(
			"the database has %d accounts but records no server key, and %s had none: start with the key that signed for them (--signing-key FILE, or its server.key in %s)",
			accounts, source, cfg.DataDir)}
	}
	if !bytes.Equal(recorded, pub) {
		return nil, &keyError{ErrServerKeyMismatch, fmt.Sprintf(
			"the signing key %s (%s) is not the key this database expects, %s: start every instance with that key (--signing-key FILE), or, to replace it, run hush server rotate-key --signing-key %s",
			identity.Fingerprint(key.Public()), source, fingerprintOf(recorded), source)}
	}
	if created {
		log.Info("created server signing key", "path", source, "encrypted", len(pass) > 0)
	}
	if len(pass) == 0 {
		log.Warn("the server signing key is stored unencrypted (owner-only file); set HUSH_SERVER_KEY_PASSPHRASE to encrypt it")
	}
	return key, nil
}

// fingerprintOf is the fingerprint of a recorded public key.
func fingerprintOf(pub []byte) string {
	k, err := identity.NewIdentityKey(pub)
	if err != nil {
		return "(unreadable)"
	}
	return identity.Fingerprint(k)
}

// RotateKey makes the key in keyFile the one the database of cfg expects
// (hush server rotate-key). It returns the fingerprints of the key
// replaced ("" if none was recorded) and of the new one. Running
// instances keep the key they started with until restarted.
func RotateKey(ctx context.Context, cfg Config, keyFile string) (old, cur string, err error) {
	key, err := ReadKeyFile(keyFile, []byte(cfg.KeyPassphrase))
	if err != nil {
		return "", "", err
	}
	st, err := sqlstore.Open(ctx, cfg.databaseURL())
	if err != nil {
		return "", "", fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	prev, err := st.SetServerKey(ctx, key.Public().Bytes())
	if err != nil {
		return "", "", fmt.Errorf("database: %w", err)
	}
	if prev != nil {
		old = fingerprintOf(prev)
	}
	return old, identity.Fingerprint(key.Public()), nil
}

// validateOps checks the settings of deployment: signing key, log format,
// metrics listener.
func (c *Config) validateOps() error {
	var errs []error
	switch c.LogFormat {
	case "", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: want text or json", c.LogFormat))
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics_listen %q: %w", c.MetricsListen, err))
		}
	}
	return errors.Join(errs...)
}

// Keygen writes a new signing key file to path (hush server keygen) and
// returns its fingerprint; see WriteNewKeyFile.
func Keygen(path string, passphrase []byte) (string, error) {
	k, err := WriteNewKeyFile(path, passphrase)
	if err != nil {
		return "", err
	}
	return identity.Fingerprint(k.Public()), nil
}
