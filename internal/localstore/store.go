package localstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Store is an open, unlocked profile. It is safe for concurrent use.
type Store struct {
	w *sql.DB // one connection; every write transaction
	r *sql.DB // read-only pool for View

	// mu guards k: transactions hold it for reading, so Close and
	// ChangePassphrase wait for them to end before they swap or wipe keys.
	mu sync.RWMutex
	k  *keys // nil once closed

	kdf      Params // for ChangePassphrase; DefaultParams
	keepSeen int    // MarkSeen keeps this many sequence numbers per source
}

// defaultKeepSeen is how many relay sequence numbers MarkSeen remembers
// per source.
const defaultKeepSeen = 100_000

// Exists reports whether dir holds a profile. Create makes the database
// file appear only once it is complete, so a file there is a profile.
func Exists(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, FileName))
	return err == nil && fi.Mode().IsRegular()
}

// Create makes a new profile in dir (created, or restricted, to mode 0700)
// locked by passphrase, and opens it. It fails with ErrExists if dir
// already holds one. The database appears under its final name only when
// it is complete, so a crash during Create leaves no half-made profile
// (at most a hidden .profile.db.new-* file beside it).
func Create(ctx context.Context, dir string, passphrase []byte) (*Store, error) {
	return create(ctx, dir, passphrase, DefaultParams)
}

func create(ctx context.Context, dir string, passphrase []byte, p Params) (_ *Store, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; the profile
	// directory must not be readable by others whoever made it.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if Exists(dir) {
		return nil, ErrExists
	}
	k, salt, err := newKeys(passphrase, p)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			k.wipe()
		}
	}()
	// Build the database under a temporary name (CreateTemp: mode 0600),
	// then link it into place: os.Link fails if the name is taken, so of
	// two concurrent Creates exactly one wins.
	f, err := os.CreateTemp(dir, "."+FileName+".new-*")
	if err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	if err := initFile(ctx, tmp, p, salt, k.verifier); err != nil {
		return nil, err
	}
	if err := linkNew(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, ErrExists
		}
		return nil, fmt.Errorf("localstore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	return openWith(ctx, path, func(*meta) (*keys, error) { return k, nil })
}

// linkNew gives the file tmp the name path, failing with fs.ErrExist if
// path exists. Where the filesystem has no hard links (FAT, some network
// mounts) it falls back to a rename, which only a Create racing this one
// could get wrong.
func linkNew(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(path); serr == nil {
		return fs.ErrExist
	}
	return os.Rename(tmp, path)
}

// Open unlocks the profile in dir. It fails with ErrNoProfile if there is
// none and ErrWrongPassphrase if passphrase does not unlock it; a refused
// Open writes nothing.
func Open(ctx context.Context, dir string, passphrase []byte) (*Store, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNoProfile
		}
		return nil, fmt.Errorf("localstore: %w", err)
	}
	return openWith(ctx, path, func(m *meta) (*keys, error) { return unlock(passphrase, m) })
}

// openWith opens the database at path and gets its keys from unlockFn.
func openWith(ctx context.Context, path string, unlockFn func(*meta) (*keys, error)) (*Store, error) {
	w, r, err := openPools(ctx, path)
	if err != nil {
		return nil, err
	}
	k, err := func() (*keys, error) {
		m, err := readMeta(ctx, w)
		if err != nil {
			return nil, err
		}
		return unlockFn(m)
	}()
	if err == nil {
		err = upgradeSchema(ctx, w)
	}
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	return &Store{w: w, r: r, k: k, kdf: DefaultParams, keepSeen: defaultKeepSeen}, nil
}

// Close wipes the keys and closes the database, waiting for transactions
// in progress. Closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.k == nil {
		return nil
	}
	s.k.wipe()
	s.k = nil
	// The writer closes last: the last connection to go checkpoints the
	// WAL into the database file and removes it.
	return errors.Join(s.r.Close(), s.w.Close())
}

// Update runs fn in one write transaction: everything fn writes commits
// together, durably, when fn returns nil, and nothing does if fn returns
// an error or panics (the panic continues after the rollback). Writers
// are serialized, so fn may read, then write what it read.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return s.run(ctx, false, fn)
}

// View runs fn in a read-only transaction: it sees one consistent
// snapshot, and its write methods fail.
func (s *Store) View(ctx context.Context, fn func(tx *Tx) error) error {
	return s.run(ctx, true, fn)
}

func (s *Store) run(ctx context.Context, readOnly bool, fn func(tx *Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.k == nil {
		return ErrClosed
	}
	db := s.w
	if readOnly {
		db = s.r
	}
	stx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("localstore: begin: %w", err)
	}
	defer stx.Rollback() // after Commit, a no-op
	if err := checkFresh(ctx, stx, s.k); err != nil {
		return err
	}
	if err := fn(&Tx{ctx: ctx, tx: stx, k: s.k, keepSeen: s.keepSeen, readOnly: readOnly}); err != nil {
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("localstore: commit: %w", err)
	}
	return nil
}

// checkFresh refuses a transaction if the stored verifier is no longer the
// one k was unlocked with: the passphrase changed under this Store, and
// writing with the old keys would leave values no key opens.
func checkFresh(ctx context.Context, q queryRower, k *keys) error {
	var v []byte
	if err := q.QueryRowContext(ctx, `SELECT verifier FROM meta WHERE id = 1`).Scan(&v); err != nil {
		return fmt.Errorf("localstore: read metadata: %w", err)
	}
	if !bytes.Equal(v, k.verifier) {
		return ErrStale
	}
	return nil
}
