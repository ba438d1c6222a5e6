package localstore

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

// testParams make Argon2id cheap so the tests stay fast; the tests that
// are about the parameters themselves use DefaultParams.
var testParams = Params{Time: 1, Memory: 64, Threads: 1}

var testPass = []byte("correct horse battery staple")

// newStore creates a profile in a fresh directory.
func newStore(t testing.TB) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "profile")
	s, err := create(context.Background(), dir, testPass, testParams)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	s.kdf = testParams
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// reopen opens dir with testPass.
func reopen(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, testPass)
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

// rawDB opens the profile database directly, as an attacker with the
// file (or a bug elsewhere) would, bypassing the store.
func rawDB(t testing.TB, dir string) *sql.DB {
	t.Helper()
	d, err := dsn(filepath.Join(dir, FileName), pragmaBusy)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func rawExec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s: no row changed", query)
	}
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
