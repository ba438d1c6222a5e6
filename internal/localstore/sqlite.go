package localstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the profile database's name inside the profile directory.
const FileName = "profile.db"

const schema = `
CREATE TABLE meta (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	version     INTEGER NOT NULL,
	kdf_salt    BLOB NOT NULL,
	kdf_time    INTEGER NOT NULL,
	kdf_memory  INTEGER NOT NULL,
	kdf_threads INTEGER NOT NULL,
	verifier    BLOB NOT NULL
);
CREATE TABLE secrets  (k BLOB PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE contacts (k BLOB PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE sessions (k BLOB PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE messages (
	seq  INTEGER PRIMARY KEY,
	conv BLOB NOT NULL,
	id   BLOB NOT NULL,
	v    BLOB NOT NULL,
	UNIQUE (conv, id)
);
CREATE INDEX messages_conv ON messages (conv, seq);
CREATE TABLE seen_sources (k BLOB PRIMARY KEY, n INTEGER NOT NULL, v BLOB NOT NULL);
CREATE TABLE seen (src BLOB NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (src, seq)) WITHOUT ROWID;
` + outboxSchema + `
`

// formatVersion is the meta.version this package writes and reads.
const formatVersion = 1

// dsn is an SQLite URI for path with the given pragmas. A file: URI with
// an escaped absolute path keeps characters such as ? and # in directory
// names from being read as URI syntax.
func dsn(path string, params ...string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("localstore: %w", err)
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

// openPools opens the writer (one connection, BEGIN IMMEDIATE) and the
// read-only pool of an existing database file, switching it to WAL.
func openPools(ctx context.Context, path string) (w, r *sql.DB, err error) {
	wdsn, err := dsn(path, pragmaBusy, pragmaWAL, pragmaSync, pragmaSecure, pragmaWALCap, txImmediate)
	if err != nil {
		return nil, nil, err
	}
	rdsn, err := dsn(path, pragmaBusy, pragmaRO)
	if err != nil {
		return nil, nil, err
	}
	if w, err = sql.Open("sqlite", wdsn); err != nil {
		return nil, nil, fmt.Errorf("localstore: open database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// The writer connects first, so the file is in WAL mode before any
	// reader looks at it.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("localstore: open database: %w", err)
	}
	if r, err = sql.Open("sqlite", rdsn); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("localstore: open database: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	return w, r, nil
}

// initFile writes a complete new profile database at path (which must not
// exist yet) in one transaction, and closes it.
func initFile(ctx context.Context, path string, p Params, salt, verifier []byte) error {
	d, err := dsn(path, pragmaSync)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", d)
	if err != nil {
		return fmt.Errorf("localstore: create database: %w", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("localstore: create database: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("localstore: create schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta
		(id, version, kdf_salt, kdf_time, kdf_memory, kdf_threads, verifier)
		VALUES (1, ?, ?, ?, ?, ?, ?)`,
		formatVersion, salt, p.Time, p.Memory, p.Threads, verifier); err != nil {
		return fmt.Errorf("localstore: create meta: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("localstore: create database: %w", err)
	}
	return db.Close()
}

// meta is the plaintext metadata row.
type meta struct {
	version  int64
	salt     []byte
	params   Params
	verifier []byte
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readMeta(ctx context.Context, q queryRower) (*meta, error) {
	var m meta
	var t, mem, th int64
	err := q.QueryRowContext(ctx, `SELECT version, kdf_salt, kdf_time, kdf_memory,
		kdf_threads, verifier FROM meta WHERE id = 1`).Scan(
		&m.version, &m.salt, &t, &mem, &th, &m.verifier)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("%w: no metadata", ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("localstore: read metadata: %w", err)
	}
	if m.version != formatVersion {
		return nil, fmt.Errorf("localstore: profile format version %d is not supported (this build reads %d)",
			m.version, formatVersion)
	}
	if t < 0 || t > maxTime || mem < 0 || mem > maxMemory || th < 0 || th > 255 {
		return nil, fmt.Errorf("%w: Argon2id parameters out of range", ErrCorrupt)
	}
	m.params = Params{Time: uint32(t), Memory: uint32(mem), Threads: uint8(th)}
	return &m, nil
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
