package localstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCreateOpenExists(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "p")
	if Exists(dir) {
		t.Fatal("Exists before Create")
	}
	if _, err := Open(ctx, dir, testPass); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("Open of a missing directory: %v, want ErrNoProfile", err)
	}
	s, err := create(ctx, dir, testPass, testParams)
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
	if !Exists(dir) {
		t.Fatal("Exists after Create")
	}
	if _, err := create(ctx, dir, testPass, testParams); !errors.Is(err, ErrExists) {
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
	if _, err := Open(context.Background(), t.TempDir(), testPass); !errors.Is(err, ErrNoProfile) {
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
			s, err := create(context.Background(), dir, []byte{byte(i)}, testParams)
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
	s, err := create(context.Background(), dir, testPass, testParams)
	if err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx *Tx) error { return tx.PutSecret("a", []byte("b")) })
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
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
	before, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, wrong := range [][]byte{[]byte("correct horse battery stapler"), nil, []byte("")} {
		if _, err := Open(context.Background(), dir, wrong); !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("Open with a wrong passphrase: %v, want ErrWrongPassphrase", err)
		}
	}
	after, err := os.ReadFile(filepath.Join(dir, FileName))
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
	s, err := Create(ctx, dir, testPass)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	m, err := readMeta(ctx, rawDB(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if m.params != DefaultParams || len(m.salt) != saltSize {
		t.Fatalf("stored params %+v salt %d bytes, want %+v and %d", m.params, len(m.salt), DefaultParams, saltSize)
	}
	if _, err := Open(ctx, dir, []byte("nope")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	reopen(t, dir)
}

// Security regression: the meta table is read before anything is
// authenticated, so out-of-range Argon2id parameters must be refused
// rather than obeyed (a 1 TiB allocation, an hour of hashing).
func TestTamperedParamsRefused(t *testing.T) {
	for _, tc := range []struct{ col, val string }{
		{"kdf_memory", "1099511627776"},
		{"kdf_memory", "4194305"},
		{"kdf_time", "0"},
		{"kdf_time", "1000000"},
		{"kdf_threads", "0"},
		{"kdf_threads", "300"},
	} {
		t.Run(tc.col+"="+tc.val, func(t *testing.T) {
			s, dir := newStore(t)
			s.Close()
			rawExec(t, rawDB(t, dir), `UPDATE meta SET `+tc.col+` = `+tc.val)
			if _, err := Open(context.Background(), dir, testPass); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestTamperedSaltOrVerifierIsWrongPassphrase(t *testing.T) {
	for _, col := range []string{"kdf_salt", "verifier"} {
		s, dir := newStore(t)
		s.Close()
		rawExec(t, rawDB(t, dir), `UPDATE meta SET `+col+` = zeroblob(length(`+col+`))`)
		if _, err := Open(context.Background(), dir, testPass); !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("%s zeroed: %v, want ErrWrongPassphrase", col, err)
		}
	}
}

func TestUnknownFormatVersionRefused(t *testing.T) {
	s, dir := newStore(t)
	s.Close()
	rawExec(t, rawDB(t, dir), `UPDATE meta SET version = 2`)
	_, err := Open(context.Background(), dir, testPass)
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
