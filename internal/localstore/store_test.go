package localstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hush-chat/hush/internal/sqlitestore"
	"github.com/hush-chat/hush/internal/storage"
)

func TestCreateOpenExists(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "p")
	if sqlitestore.Exists(dir) {
		t.Fatal("Exists before Create")
	}
	if _, err := openDir(ctx, dir, testPass); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("Open of a missing directory: %v, want ErrNoProfile", err)
	}
	s, err := createDir(ctx, dir, testPass, testParams)
	if err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx *Tx) error { return tx.PutSecret("k", []byte("v")) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !sqlitestore.Exists(dir) {
		t.Fatal("Exists after Create")
	}
	if _, err := createDir(ctx, dir, testPass, testParams); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	s = reopen(t, dir)
	view(t, s, func(tx *Tx) error {
		v, err := tx.GetSecret("k")
		if err != nil || string(v) != "v" {
			t.Fatalf("after reopen: %q, %v", v, err)
		}
		return nil
	})
	if entries, _ := os.ReadDir(dir); len(entries) > 3 {
		t.Errorf("profile directory holds %d files, want the database (+ -wal, -shm) only", len(entries))
	}
}

func TestOpenEmptyDirectoryIsNoProfile(t *testing.T) {
	if _, err := openDir(context.Background(), t.TempDir(), testPass); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("got %v, want ErrNoProfile", err)
	}
}

func TestConcurrentCreateOneWins(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	const n = 4
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := createDir(context.Background(), dir, []byte{byte(i)}, testParams)
			if err == nil {
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	wins := 0
	for err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrExists):
			t.Errorf("Create: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d Creates succeeded, want exactly 1", wins)
	}
}

func TestPathWithURISyntax(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "we?ird#dir%20name")
	s, err := createDir(context.Background(), dir, testPass, testParams)
	if err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx *Tx) error { return tx.PutSecret("a", []byte("b")) })
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, sqlitestore.FileName)); err != nil {
		t.Fatalf("database not where it belongs: %v", err)
	}
	reopen(t, dir)
}

// Security regression: a wrong passphrase is refused, and the refused Open
// leaves the profile byte-for-byte as it was.
func TestWrongPassphraseRefusedAndStoreUnchanged(t *testing.T) {
	s, dir := newStore(t)
	update(t, s, func(tx *Tx) error {
		if err := tx.PutSecret("seed", []byte("xyz")); err != nil {
			return err
		}
		_, err := tx.AddMessage("bob", []byte("m1"), testTime(0), []byte("hi"))
		return err
	})
	s.Close()
	before, err := os.ReadFile(filepath.Join(dir, sqlitestore.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, wrong := range [][]byte{[]byte("correct horse battery stapler"), nil, []byte("")} {
		if _, err := openDir(context.Background(), dir, wrong); !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("Open with a wrong passphrase: %v, want ErrWrongPassphrase", err)
		}
	}
	after, err := os.ReadFile(filepath.Join(dir, sqlitestore.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("a refused Open changed the database file")
	}
	s = reopen(t, dir)
	view(t, s, func(tx *Tx) error {
		if v, err := tx.GetSecret("seed"); err != nil || string(v) != "xyz" {
			t.Fatalf("secret after refused opens: %q, %v", v, err)
		}
		return nil
	})
}

// Create records DefaultParams in the profile, and Open derives the key
// with whatever parameters the profile records.
func TestParamsStoredInProfile(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "p")
	s, err := createDir(ctx, dir, testPass, DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	m := rawMeta(t, s)
	s.Close()
	if m.Time != DefaultParams.Time || m.Memory != DefaultParams.Memory || m.Threads != DefaultParams.Threads ||
		len(m.Salt) != saltSize || m.KDF != storage.KDFArgon2id || m.Version != formatVersion {
		t.Fatalf("stored meta %+v, want %+v and a %d-byte salt", m, DefaultParams, saltSize)
	}
	if _, err := openDir(ctx, dir, []byte("nope")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	reopen(t, dir)
}

// editMeta rewrites the meta record of the profile at dir (closing s).
func editMeta(t *testing.T, s *Store, edit func(m *storage.Meta)) {
	t.Helper()
	m := rawMeta(t, s)
	edit(m)
	tamper(t, s, func(tx storage.Tx) error { return storage.WriteMeta(tx, m) })
	s.Close()
}

// Security regression: the meta record is read before anything is
// authenticated, so out-of-range Argon2id parameters must be refused
// rather than obeyed (a 4 GiB allocation, an hour of hashing).
func TestTamperedParamsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(m *storage.Meta)
	}{
		{"memory=4194305", func(m *storage.Meta) { m.Memory = 4194305 }},
		{"memory=max", func(m *storage.Meta) { m.Memory = 1<<32 - 1 }},
		{"time=0", func(m *storage.Meta) { m.Time = 0 }},
		{"time=1000000", func(m *storage.Meta) { m.Time = 1000000 }},
		{"threads=0", func(m *storage.Meta) { m.Threads = 0 }},
		{"kdf unknown", func(m *storage.Meta) { m.KDF = "scrypt" }},
		{"salt short", func(m *storage.Meta) { m.Salt = m.Salt[:8] }},
	} {
		eachBackend(t, func(t *testing.T, kind string) {
			s, dir := newStoreOn(t, kind)
			editMeta(t, s, tc.edit)
			if _, err := openDir(context.Background(), dir, testPass); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: got %v, want ErrCorrupt", tc.name, err)
			}
		})
	}
}

func TestTamperedSaltOrVerifierIsWrongPassphrase(t *testing.T) {
	for _, field := range []string{"salt", "verifier"} {
		eachBackend(t, func(t *testing.T, kind string) {
			s, dir := newStoreOn(t, kind)
			editMeta(t, s, func(m *storage.Meta) {
				if field == "salt" {
					clear(m.Salt)
				} else {
					clear(m.Verifier)
				}
			})
			if _, err := openDir(context.Background(), dir, testPass); !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("%s zeroed: %v, want ErrWrongPassphrase", field, err)
			}
		})
	}
}

// A profile that says it is locked by another kind of key than the one
// given is refused with ErrKeyKind, not taken as a wrong passphrase.
func TestKeyKindMismatch(t *testing.T) {
	s, dir := newStoreOn(t, "memory")
	s.Close()
	appKey := make([]byte, 32)
	if _, err := Open(context.Background(), memBackend(dir), AppKey(appKey)); !errors.Is(err, ErrKeyKind) {
		t.Fatalf("application key on a passphrase profile: %v", err)
	}
}

func TestUnknownFormatVersionRefused(t *testing.T) {
	s, dir := newStore(t)
	editMeta(t, s, func(m *storage.Meta) { m.Version = 3 })
	_, err := openDir(context.Background(), dir, testPass)
	if err == nil || errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("got %v, want a version error", err)
	}
}

func TestClosedStore(t *testing.T) {
	s, _ := newStore(t)
	s.Close()
	nop := func(*Tx) error { return nil }
	if err := s.Update(context.Background(), nop); !errors.Is(err, ErrClosed) {
		t.Fatalf("Update after Close: %v", err)
	}
	if err := s.View(context.Background(), nop); !errors.Is(err, ErrClosed) {
		t.Fatalf("View after Close: %v", err)
	}
	if err := s.ChangePassphrase(context.Background(), testPass, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("ChangePassphrase after Close: %v", err)
	}
}
