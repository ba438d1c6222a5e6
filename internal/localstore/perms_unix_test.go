//go:build unix

package localstore

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hush-chat/hush/internal/sqlitestore"
)

// Security regression: the profile directory is 0700 and every database
// file (database, WAL, shared memory) 0600, even under a permissive umask
// and in a directory that was world-readable before.
func TestPermissions(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, pre := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "profile")
		if pre {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		s, err := createDir(context.Background(), dir, testPass, testParams)
		if err != nil {
			t.Fatal(err)
		}
		update(t, s, writeOneOfEach)
		assertMode(t, dir, 0o700|fs.ModeDir)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, e := range entries {
			names[e.Name()] = true
			assertMode(t, filepath.Join(dir, e.Name()), 0o600)
		}
		for _, n := range []string{sqlitestore.FileName, sqlitestore.FileName + "-wal", sqlitestore.FileName + "-shm"} {
			if !names[n] {
				t.Errorf("%s missing while the profile is open (have %v)", n, names)
			}
		}
		s.Close()
	}
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), fi.Mode(), want)
	}
}
