// Package sqlitestore is the storage.Backend of a hush profile on disk:
// one SQLite database, profile.db, in the profile directory (mode 0700).
// It holds the sealed rows internal/localstore gives it and the plaintext
// meta record, in one table kv (t, k, v) ordered by (table, key).
//
// # Durability and concurrency
//
// SQLite runs in WAL mode with synchronous=FULL: when Update returns nil,
// everything fn wrote is on disk; when it returns an error, none of it is.
// Writes of this process queue on one connection (BEGIN IMMEDIATE); View
// reads a consistent snapshot from a pool of read-only connections that
// WAL lets run beside the writer. Other processes may open the same
// profile; SQLite's locks (with a busy timeout) serialize their writes.
//
// Deleted and overwritten values are zeroed in the database file
// (secure_delete) and the WAL is truncated as checkpoints empty it (and
// by Scrub), so a session state that was replaced cannot be recovered
// from free pages by someone who later learns the passphrase.
//
// # Format 1
//
// Profiles written before the storage contract existed (meta.version 1,
// one SQL table per kind of row) are converted when they are opened, in
// one transaction: the sealed values are copied unchanged under the keys
// format 2 files them by (migrate.go), so no key is needed to convert.
// This package is not part of the WebAssembly build.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/hush-chat/hush/internal/storage"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the profile database's name inside the profile directory.
const FileName = "profile.db"

var (
	// ErrExists: Create found a profile already in the directory.
	ErrExists = errors.New("sqlitestore: a profile already exists here")
	// ErrNoProfile: the directory holds no profile.
	ErrNoProfile = errors.New("sqlitestore: no profile here")
)

const schema = `CREATE TABLE kv (t TEXT NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL, PRIMARY KEY (t, k)) WITHOUT ROWID;`

// dsn is an SQLite URI for path with the given pragmas. A file: URI with
// an escaped absolute path keeps characters such as ? and # in directory
// names from being read as URI syntax.
func dsn(path string, params ...string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlitestore: %w", err)
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/… on Windows
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: strings.Join(params, "&")}
	return u.String(), nil
}

// Pragmas. busy_timeout lets writers of other processes (hush listen
// beside hush send) wait for each other instead of failing. WAL lets
// readers run beside the writer; synchronous=FULL fsyncs the WAL at every
// commit. secure_delete zeroes the space a deleted or overwritten value
// leaves, so replaced session states are gone from the file; a zero
// journal_size_limit truncates the WAL whenever a checkpoint empties it,
// so older page images do not linger in its tail.
const (
	pragmaBusy   = "_pragma=busy_timeout(5000)"
	pragmaSync   = "_pragma=synchronous(FULL)"
	pragmaWAL    = "_pragma=journal_mode(WAL)"
	pragmaSecure = "_pragma=secure_delete(1)"
	pragmaWALCap = "_pragma=journal_size_limit(0)"
	pragmaRO     = "_pragma=query_only(1)"
	txImmediate  = "_txlock=immediate"
)

// Exists reports whether dir holds a profile. Create makes the database
// file appear only once it is complete, so a file there is a profile.
func Exists(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, FileName))
	return err == nil && fi.Mode().IsRegular()
}

// Backend is an open profile database.
type Backend struct {
	w *sql.DB // one connection; every write transaction
	r *sql.DB // read-only pool for View

	ws, rs *statements // prepared on w and r

	mu     sync.Mutex
	closed bool
}

var _ storage.Backend = (*Backend)(nil)

// Create makes a new profile database in dir (created, or restricted, to
// mode 0700), runs init in the transaction that creates it (the sealing
// layer writes its meta record there), and opens it. It fails with
// ErrExists if dir already holds one. The database appears under its
// final name only when it is complete, so a crash during Create leaves no
// half-made profile (at most a hidden .profile.db.new-* file beside it).
func Create(ctx context.Context, dir string, init func(storage.Tx) error) (*Backend, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; the profile
	// directory must not be readable by others whoever made it.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if Exists(dir) {
		return nil, ErrExists
	}
	// Build the database under a temporary name (CreateTemp: mode 0600),
	// then link it into place: os.Link fails if the name is taken, so of
	// two concurrent Creates exactly one wins.
	f, err := os.CreateTemp(dir, "."+FileName+".new-*")
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	if err := initFile(ctx, tmp, init); err != nil {
		return nil, err
	}
	if err := linkNew(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, ErrExists
		}
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	return openPath(ctx, path)
}

// initFile writes a complete new database at path in one transaction.
func initFile(ctx context.Context, path string, init func(storage.Tx) error) error {
	d, err := dsn(path, pragmaSync)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", d)
	if err != nil {
		return fmt.Errorf("sqlitestore: create database: %w", err)
	}
	defer db.Close()
	stx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: create database: %w", err)
	}
	defer stx.Rollback()
	if _, err := stx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("sqlitestore: create schema: %w", err)
	}
	if init != nil {
		tx := &tx{ctx: ctx, tx: stx}
		err := init(tx)
		tx.done = true
		if err != nil {
			return err
		}
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: create database: %w", err)
	}
	return db.Close()
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

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if runtime.GOOS == "windows" {
		return nil // directories cannot be fsynced there; NTFS journals metadata
	}
	return d.Sync()
}

// Open opens the profile database in dir, converting a format 1 profile.
// It fails with ErrNoProfile if there is none.
func Open(ctx context.Context, dir string) (*Backend, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNoProfile
		}
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	return openPath(ctx, path)
}

func openPath(ctx context.Context, path string) (*Backend, error) {
	wdsn, err := dsn(path, pragmaBusy, pragmaWAL, pragmaSync, pragmaSecure, pragmaWALCap, txImmediate)
	if err != nil {
		return nil, err
	}
	rdsn, err := dsn(path, pragmaBusy, pragmaRO)
	if err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// The writer connects first, so the file is in WAL mode before any
	// reader looks at it, and converts an older format before any reads.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlitestore: open database: %w", err)
	}
	if err := upgrade(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", rdsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlitestore: open database: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	// A database without the kv table (not a profile) has nothing to
	// prepare against: its transactions run unprepared, and the layer
	// above finds no meta record in it.
	ws, _ := prepare(ctx, w, false)
	rs, _ := prepare(ctx, r, true)
	return &Backend{w: w, r: r, ws: ws, rs: rs}, nil
}

// Close closes the database, waiting for transactions in progress.
// Closing twice is harmless.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	// The writer closes last: the last connection to go checkpoints the
	// WAL into the database file and removes it.
	return errors.Join(b.rs.close(), b.ws.close(), b.r.Close(), b.w.Close())
}

func (b *Backend) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// View runs fn in a read-only transaction on a consistent snapshot.
func (b *Backend) View(ctx context.Context, fn func(storage.Tx) error) error {
	return b.run(ctx, true, fn)
}

// Update runs fn in one write transaction, durable when it returns nil.
func (b *Backend) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return b.run(ctx, false, fn)
}

func (b *Backend) run(ctx context.Context, readOnly bool, fn func(storage.Tx) error) error {
	if b.isClosed() {
		return storage.ErrClosed
	}
	db, prepared := b.w, b.ws
	if readOnly {
		db, prepared = b.r, b.rs
	}
	stx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		if b.isClosed() {
			return storage.ErrClosed
		}
		return fmt.Errorf("sqlitestore: begin: %w", err)
	}
	defer stx.Rollback() // after Commit, a no-op
	t := &tx{ctx: ctx, tx: stx, readOnly: readOnly, prepared: prepared, buffered: !readOnly}
	err = fn(t)
	if err == nil {
		err = t.flush() // the puts still waiting
	}
	t.done = true
	if err != nil {
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: commit: %w", err)
	}
	return nil
}

// Scrub checkpoints the WAL and truncates it, so page images of
// overwritten values are gone from it. Best effort: a reader of another
// process may hold old frames; later commits overwrite them either way.
func (b *Backend) Scrub(ctx context.Context) error {
	_, err := b.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}
