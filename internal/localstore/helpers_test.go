package localstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hush-chat/hush/internal/sqlitestore"
	"github.com/hush-chat/hush/internal/storage"
)

// testParams make Argon2id cheap so the tests stay fast; the tests that
// are about the parameters themselves use DefaultParams.
var testParams = Params{Time: 1, Memory: 64, Threads: 1}

var testPass = []byte("correct horse battery staple")

func testKey(pass []byte, p Params) Key {
	k := Passphrase(pass)
	k.params = p
	return k
}

// Memory backends of a test are named "mem:N" where a SQLite profile has
// its directory, so reopen works for both.
var (
	memMu sync.Mutex
	mems  = map[string]storage.Backend{}
)

// backends are the kinds of backend the contract tests run on.
var backends = []string{"sqlite", "memory"}

// eachBackend runs fn as a subtest per backend; newStore and reopen in it
// use that backend.
func eachBackend(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
}

// newStore creates a profile on SQLite in a fresh directory.
func newStore(t testing.TB) (*Store, string) { return newStoreOn(t, "sqlite") }

// newStoreOn creates a profile on a new backend of kind.
func newStoreOn(t testing.TB, kind string) (*Store, string) {
	t.Helper()
	var dir string
	if kind == "memory" {
		b := storage.Memory()
		memMu.Lock()
		dir = fmt.Sprintf("mem:%d", len(mems))
		mems[dir] = b
		memMu.Unlock()
		t.Cleanup(func() { b.Close() })
	} else {
		dir = filepath.Join(t.TempDir(), "profile")
	}
	s, err := createDir(context.Background(), dir, testPass, testParams)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	s.kdf = testParams
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// createDir creates a profile at dir: a SQLite directory or a "mem:N".
func createDir(ctx context.Context, dir string, pass []byte, p Params) (*Store, error) {
	if b := memBackend(dir); b != nil {
		s, err := Create(ctx, b, testKey(pass, p))
		if s != nil {
			s.KeepBackendOpen()
		}
		return s, err
	}
	pending, err := Prepare(testKey(pass, p))
	if err != nil {
		return nil, err
	}
	b, err := sqlitestore.Create(ctx, dir, pending.Init)
	if errors.Is(err, sqlitestore.ErrExists) {
		err = ErrExists
	}
	if err != nil {
		pending.Wipe()
		return nil, err
	}
	return pending.Open(b), nil
}

func memBackend(dir string) storage.Backend {
	if !strings.HasPrefix(dir, "mem:") {
		return nil
	}
	memMu.Lock()
	defer memMu.Unlock()
	return mems[dir]
}

// openDir opens the profile at dir with pass.
func openDir(ctx context.Context, dir string, pass []byte) (*Store, error) {
	if b := memBackend(dir); b != nil {
		s, err := Open(ctx, b, Passphrase(pass))
		if s != nil {
			s.KeepBackendOpen()
		}
		return s, err
	}
	b, err := sqlitestore.Open(ctx, dir)
	if errors.Is(err, sqlitestore.ErrNoProfile) {
		return nil, ErrNoProfile
	}
	if err != nil {
		return nil, err
	}
	s, err := Open(ctx, b, Passphrase(pass))
	if err != nil {
		b.Close()
		return nil, err
	}
	return s, nil
}

// reopen opens dir with testPass.
func reopen(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := openDir(context.Background(), dir, testPass)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	s.kdf = testParams
	t.Cleanup(func() { s.Close() })
	return s
}

func update(t testing.TB, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t testing.TB, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

// tamper changes the backend under s directly, as an attacker who can
// write to the store (or a bug elsewhere) would, bypassing the sealing.
func tamper(t testing.TB, s *Store, fn func(tx storage.Tx) error) {
	t.Helper()
	if err := s.b.Update(context.Background(), fn); err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

// rawMeta returns the meta record of the store at s.
func rawMeta(t testing.TB, s *Store) *storage.Meta {
	t.Helper()
	var m *storage.Meta
	if err := s.b.View(context.Background(), func(tx storage.Tx) (err error) {
		m, _, err = storage.ReadMeta(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

// rawDB opens the profile database directly, bypassing the store.
func rawDB(t testing.TB, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlitestore.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// filesContaining returns the files of dir (the database, its WAL and
// shared-memory files, anything else) that contain needle.
func filesContaining(t testing.TB, dir string, needle []byte) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var hits []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, e.Name())
		}
	}
	return hits
}
