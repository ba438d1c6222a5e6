package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect names returned by DB.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

var (
	// ErrSchemaTooNew: the database was migrated by a newer hush server
	// than this one; opening it could corrupt data the newer schema relies
	// on.
	ErrSchemaTooNew = errors.New("sqlstore: database schema is newer than this server")
	// ErrInvalid: an argument the store cannot represent or that breaks an
	// invariant (empty id, unknown prekey kind, chunk of the wrong length).
	// Callers validate requests before they reach the store, so this
	// signals a bug rather than a bad request.
	ErrInvalid = errors.New("sqlstore: invalid argument")
)

// DB is a hush store in SQLite or PostgreSQL. It implements store.Store
// and is safe for concurrent use.
type DB struct {
	dialect string
	src     string  // the URL Open was given, so tests can reopen it
	w       *sql.DB // writes; for SQLite a single connection
	r       *sql.DB // reads; for SQLite a read-only pool, for PostgreSQL w
	now     func() time.Time
	stmts   stmtCache   // prepared read statements
	wstmts  writeStmts  // SQLite: prepared write statements
	files   *chunkFiles // SQLite: where chunk bytes live; nil for PostgreSQL
	failed  lastFailure // the last write the store could not take (Probe)
}

var _ store.Store = (*DB)(nil)

// Option changes how Open sets up a DB.
type Option func(*DB)

// WithClock sets the clock used for the times the store records itself
// (an envelope's StoredAt, an account's UpdatedAt, defaults for zero
// CreatedAt fields). Tests pass a fake clock; the default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(db *DB) { db.now = now }
}

// Open opens (creating if needed) and migrates the database named by url:
//
//	sqlite:///abs/path/hush.db, sqlite://relative/path.db or a plain path → SQLite
//	postgres://… or postgresql://… (any pgx connection string) → PostgreSQL
//
// A new SQLite database file is created with mode 0600 in a directory
// created with mode 0700 if missing.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	db := &DB{now: time.Now, src: url}
	for _, o := range opts {
		o(db)
	}
	var err error
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		err = db.openPostgres(ctx, url)
	case strings.Contains(url, "://") && !strings.HasPrefix(url, "sqlite://"):
		return nil, fmt.Errorf("sqlstore: unsupported database URL scheme in %q", redact(url))
	default:
		err = db.openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"))
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.openChunkFiles(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// redact drops everything but the scheme of a URL, which may carry a
// password.
func redact(url string) string {
	if i := strings.Index(url, "://"); i >= 0 {
		return url[:i] + "://…"
	}
	return "…"
}

func (db *DB) openSQLite(ctx context.Context, path string) error {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		// Query strings, URIs and in-memory databases would bypass the
		// pragmas below or give each pool its own database.
		return fmt.Errorf("sqlstore: unsupported SQLite path %q", path)
	}
	if err := createFile(path); err != nil {
		return err
	}
	// Every write runs on one connection inside BEGIN IMMEDIATE, so writers
	// queue in database/sql instead of failing with SQLITE_BUSY; the
	// busy timeout covers other processes and checkpoints. synchronous=FULL
	// makes WAL fsync at each commit: an acknowledged envelope survives a
	// crash or power loss.
	// A 32 MiB page cache per connection (SQLite's default is 2 MiB) and
	// memory-mapped reads of up to 1 GiB keep directory lookups off the
	// read() system call: with 100,000 users they were a fifth of the CPU.
	// SQLite still writes through write() and fsync, so durability is
	// unchanged.
	base := path + "?_pragma=busy_timeout(10000)&_pragma=cache_size(-32768)&_pragma=mmap_size(1073741824)"
	w, err := sql.Open("sqlite", base+
		"&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// Opening the writer first switches the file to WAL before a reader
	// connects, so readers never see a rollback journal.
	if err := pingSQLite(ctx, w); err != nil {
		w.Close()
		return fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	db.dialect, db.w, db.r = DialectSQLite, w, r
	db.files = newChunkFiles(path)
	return nil
}

// pingSQLite opens the first connection, retrying while another process
// holds a lock: switching a new file to WAL needs an exclusive lock, and
// SQLite reports SQLITE_BUSY at once rather than wait when two
// connections could deadlock over it (servers starting together).
func pingSQLite(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := w.PingContext(ctx)
		if !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// createFile creates the database file (0600) and its directory (0700)
// before SQLite does, so the process umask cannot widen them. SQLite gives
// the -wal and -shm files the database file's permissions.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	return f.Close()
}

func (db *DB) openPostgres(ctx context.Context, url string) error {
	p, err := sql.Open("pgx", url)
	if err != nil {
		return fmt.Errorf("sqlstore: open %s: %w", redact(url), err)
	}
	p.SetMaxOpenConns(16)
	p.SetMaxIdleConns(16)
	p.SetConnMaxIdleTime(5 * time.Minute)
	if err := p.PingContext(ctx); err != nil {
		p.Close()
		return fmt.Errorf("sqlstore: connect to %s: %w", redact(url), err)
	}
	db.dialect, db.w, db.r = DialectPostgres, p, p
	return nil
}

// Dialect reports the backend: DialectSQLite or DialectPostgres.
func (db *DB) Dialect() string { return db.dialect }

// Close releases the database.
func (db *DB) Close() error {
	db.stmts.close()
	db.wstmts.close()
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// q returns query in the dialect's placeholder syntax: queries are written
// once with ? placeholders and rewritten to $1, $2, … for PostgreSQL (a
// scan far cheaper than the round trip that follows). The queries of this
// package contain no ? inside literals.
func (db *DB) q(query string) string {
	if db.dialect != DialectPostgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + len(query)/8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// forUpdate is the row-locking suffix for a SELECT that precedes a write
// of the same rows. SQLite needs none: its writers are serialized.
func (db *DB) forUpdate() string {
	if db.dialect == DialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// tx is a write transaction with placeholder rewriting.
type tx struct {
	db *DB
	tx *sql.Tx
}

func (t tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.q(query), args...)
}

func (t tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.db.q(query), args...)
}

func (t tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.db.q(query), args...)
}

// write runs fn in a write transaction and commits it. PostgreSQL may
// abort a transaction as a deadlock victim or serialization failure; write
// then retries fn a few times, so fn must start from scratch on each call.
func (db *DB) write(ctx context.Context, fn func(tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.writeOnce(ctx, fn)
		if err == nil || attempt == 5 || !retryable(err) {
			db.failed.note(err)
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
		}
	}
}

func (db *DB) writeOnce(ctx context.Context, fn func(tx) error) error {
	db.wstmts.prepareWanted(ctx, db.w)
	stx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	if err := fn(tx{db, stx}); err != nil {
		stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}

func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := db.stmts.get(ctx, db, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.r.QueryRowContext(ctx, db.q(query), args...)
}

func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := db.stmts.get(ctx, db, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.r.QueryContext(ctx, db.q(query), args...)
}

// dbErr wraps a driver error with what was being done. Driver errors name
// tables and constraints, never bound values, so they carry no secrets.
func dbErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) ||
		errors.Is(err, store.ErrUsernameTaken) || errors.Is(err, store.ErrMailboxFull) ||
		errors.Is(err, ErrInvalid) || errors.Is(err, context.Canceled) {
		return err
	}
	return markUnavailable(fmt.Errorf("sqlstore: %s: %w", what, err))
}

// never is the stored expiry of something that does not expire.
const never = math.MaxInt64

// ms converts a time to stored Unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// expiryMS converts an expiry time; the zero time means never.
func expiryMS(t time.Time) int64 {
	if t.IsZero() {
		return never
	}
	return t.UnixMilli()
}

// fromMS converts stored milliseconds back; 0 and never are the zero time.
func fromMS(v int64) time.Time {
	if v == 0 || v == never {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// nonNil turns a nil slice into an empty one: drivers bind nil as NULL,
// which NOT NULL columns refuse.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// placeholders returns "?, ?, …" with n placeholders.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// maxInList bounds the values bound in one IN (…) list, well under both
// SQLite's and PostgreSQL's parameter limits.
const maxInList = 500

// inChunks calls fn with consecutive slices of at most maxInList items.
func inChunks[T any](items []T, fn func([]T) error) error {
	for len(items) > 0 {
		n := min(len(items), maxInList)
		if err := fn(items[:n]); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// anys converts a slice to query arguments.
func anys[T any](xs []T, extra ...any) []any {
	out := make([]any, 0, len(extra)+len(xs))
	out = append(out, extra...)
	for _, x := range xs {
		out = append(out, x)
	}
	return out
}
