package server

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/testkit"
)

// identityBackends runs f on SQLite (a database file outside the data
// directories, as instances sharing one would) and, when configured,
// PostgreSQL.
func identityBackends(t *testing.T, f func(t *testing.T, db string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "sqlite://"+filepath.Join(t.TempDir(), "shared.db")) })
	t.Run("postgres", func(t *testing.T) {
		db := testkit.PostgresURL(t)
		if db == "" {
			t.Skip("HUSH_TEST_POSTGRES not set")
		}
		f(t, db)
	})
}

// startInstance starts a server on db with its own data directory and
// the given key file ("" for the data directory's server.key).
func startInstance(t *testing.T, db, dataDir, keyFile string) (*Server, error) {
	t.Helper()
	cfg := Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir, cfg.DB, cfg.SigningKey = "127.0.0.1:0", "127.0.0.1:0", dataDir, db, keyFile
	s, err := StartConfig(context.Background(), cfg, nil)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { stopInstance(s) })
	return s, nil
}

// stopInstance shuts s down, once however often it is called.
func stopInstance(s *Server) {
	select {
	case <-s.stop:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Shutdown(ctx)
}

func newKeyFile(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signing.key")
	k, err := WriteNewKeyFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return path, identity.Fingerprint(k.Public())
}

// Instances of one deployment given one key file all start and sign
// with it; an instance with another key is refused with a line naming
// the key the database expects and what to do.
func TestInstanceWithAnotherKeyIsRefused(t *testing.T) {
	identityBackends(t, func(t *testing.T, db string) {
		key, fp := newKeyFile(t)
		a, err := startInstance(t, db, t.TempDir(), key)
		if err != nil {
			t.Fatal(err)
		}
		b, err := startInstance(t, db, t.TempDir(), key)
		if err != nil {
			t.Fatalf("a second instance with the same key: %v", err)
		}
		if a.Fingerprint() != fp || b.Fingerprint() != fp {
			t.Fatalf("instances sign with %s and %s, key file is %s", a.Fingerprint(), b.Fingerprint(), fp)
		}
		other, otherFP := newKeyFile(t)
		_, err = startInstance(t, db, t.TempDir(), other)
		if !errors.Is(err, ErrServerKeyMismatch) {
			t.Fatalf("an instance with another key: %v, want ErrServerKeyMismatch", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "expects, "+fp) || !strings.Contains(msg, otherFP) || !strings.Contains(msg, "--signing-key") ||
			!strings.Contains(msg, "hush server rotate-key") || strings.Contains(msg, "\n") {
			t.Fatalf("refusal does not name the expected key and a next step on one line: %q", msg)
		}
		// The default key (server.key made in a fresh data directory) is
		// another key too.
		if _, err := startInstance(t, db, t.TempDir(), ""); !errors.Is(err, ErrServerKeyMissing) {
			t.Fatalf("a fresh data directory on the deployment's database: %v, want ErrServerKeyMissing", err)
		}
	})
}

// A fresh data directory on a database that already serves users does
// not make a new key: it refuses, and leaves no key file behind that a
// retry would then use.
func TestFreshDataDirOnPopulatedDatabaseIsRefused(t *testing.T) {
	identityBackends(t, func(t *testing.T, db string) {
		first := t.TempDir()
		s, err := startInstance(t, db, first, "")
		if err != nil {
			t.Fatal(err)
		}
		u := newUser(t, "alice")
		u.register(t, apiclient.New(s.HTTPURL(), s.PublicKey()), 1)
		fp := s.Fingerprint()

		fresh := t.TempDir()
		_, err = startInstance(t, db, fresh, "")
		if !errors.Is(err, ErrServerKeyMissing) || !strings.Contains(err.Error(), fp) {
			t.Fatalf("fresh data dir: %v, want ErrServerKeyMissing naming %s", err, fp)
		}
		if _, err := os.Stat(filepath.Join(fresh, serverKeyFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the refused start left a key file (%v)", err)
		}
		// A database from before the key was recorded: the users are
		// there, the record is not.
		clearServerKey(t, db)
		_, err = startInstance(t, db, fresh, "")
		if !errors.Is(err, ErrServerKeyMissing) || !strings.Contains(err.Error(), "1 accounts") {
			t.Fatalf("fresh data dir on a database without a record: %v", err)
		}
		if _, err := os.Stat(filepath.Join(fresh, serverKeyFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the refused start left a key file (%v)", err)
		}
		// The old key is adopted and recorded.
		s2, err := startInstance(t, db, t.TempDir(), filepath.Join(first, serverKeyFile))
		if err != nil || s2.Fingerprint() != fp {
			t.Fatalf("the deployment's own key on an unrecorded database: %v", err)
		}
	})
}

// clearServerKey deletes the key record, as a database migrated from a
// version before it has none.
func clearServerKey(t *testing.T, db string) {
	t.Helper()
	driver, src := "pgx", db
	if path, ok := strings.CutPrefix(db, "sqlite://"); ok {
		driver, src = "sqlite", path
	}
	c, err := sql.Open(driver, src)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Exec("DELETE FROM server_identity"); err != nil {
		t.Fatal(err)
	}
}

// Rotation: the operator records a new key; instances started with it
// run, the old key is refused from then on, and a client that pinned the
// old key is told the key changed, not that a signature failed.
func TestRotatedKeyReplacesTheOld(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "shared.db")
	oldKey, oldFP := newKeyFile(t)
	s, err := startInstance(t, db, t.TempDir(), oldKey)
	if err != nil {
		t.Fatal(err)
	}
	u := newUser(t, "alice")
	pinned := s.PublicKey()
	u.register(t, apiclient.New(s.HTTPURL(), pinned), 1)
	stopInstance(s)

	newKey, newFP := newKeyFile(t)
	cfg := Defaults()
	cfg.DataDir, cfg.DB = t.TempDir(), db
	was, now, err := RotateKey(context.Background(), cfg, newKey)
	if err != nil || was != oldFP || now != newFP {
		t.Fatalf("rotate: %q → %q, %v; want %s → %s", was, now, err, oldFP, newFP)
	}
	if _, err := startInstance(t, db, t.TempDir(), oldKey); !errors.Is(err, ErrServerKeyMismatch) {
		t.Fatalf("the old key after rotation: %v", err)
	}
	s2, err := startInstance(t, db, t.TempDir(), newKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = apiclient.New(s2.HTTPURL(), pinned).Lookup(context.Background(), "alice")
	var ke *apiclient.ServerKeyChangedError
	if !errors.As(err, &ke) || ke.Pinned != oldFP || ke.Served != newFP {
		t.Fatalf("client pinned on the old key: %v", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "the server's signing key changed: ") || strings.Contains(msg, "signature does not verify") {
		t.Fatalf("client error %q", msg)
	}
}

// hush server keygen with HUSH_SERVER_KEY_PASSPHRASE writes an encrypted
// key file: it opens with the passphrase only, to the key whose
// fingerprint keygen printed, and a server started on it signs with it.
func TestKeygenEncryptedKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.key")
	fp, err := Keygen(path, []byte("operator secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Keygen(path, nil); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("keygen over an existing file: %v", err)
	}
	if _, err := ReadKeyFile(path, nil); !errors.Is(err, ErrKeyPassphrase) {
		t.Fatalf("encrypted key without the passphrase: %v", err)
	}
	if _, err := ReadKeyFile(path, []byte("wrong")); !errors.Is(err, ErrKeyPassphrase) {
		t.Fatalf("encrypted key with a wrong passphrase: %v", err)
	}
	cfg := Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir, cfg.SigningKey, cfg.KeyPassphrase = "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), path, "operator secret"
	s, err := StartConfig(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stopInstance(s)
	if s.Fingerprint() != fp {
		t.Fatalf("server signs with %s, keygen printed %s", s.Fingerprint(), fp)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, serverKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("with --signing-key the data directory got a key of its own (%v)", err)
	}
}

// A signing key file that is not there stops the start before the
// database is created, with the command that makes one.
func TestMissingKeyFileCreatesNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	_, err := startInstance(t, "", data, filepath.Join(t.TempDir(), "missing.key"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "hush server keygen") {
		t.Fatalf("missing key file: %v", err)
	}
	if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the refused start created %s (%v)", data, err)
	}
}
