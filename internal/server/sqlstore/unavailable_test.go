package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hush-chat/hush/internal/server/store"
)

// bothBackends runs fn against SQLite and, when HUSH_TEST_POSTGRES names
// one, PostgreSQL.
func bothBackends(t *testing.T, fn func(t *testing.T, open func(t *testing.T) *DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, func(t *testing.T) *DB { return openSQLite(t) }) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv("HUSH_TEST_POSTGRES") == "" {
			t.Skip("HUSH_TEST_POSTGRES not set")
		}
		fn(t, func(t *testing.T) *DB { return openPostgres(t) })
	})
}

func TestProbe(t *testing.T) {
	bothBackends(t, func(t *testing.T, open func(t *testing.T) *DB) {
		db := open(t)
		ctx := context.Background()
		if err := db.Probe(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Probe(ctx); err != nil {
			t.Fatal(err)
		}
		db.Close()
		err := db.Probe(ctx)
		if !errors.Is(err, store.ErrUnavailable) || store.UnavailableReason(err) != reasonClosed {
			t.Fatalf("probe of a closed database: %v", err)
		}
	})
}

// Regression (issue 9 item 11): a full disk was an internal error. With
// SQLite held at its current size (PRAGMA max_page_count, as a full disk
// would), writes fail as store.ErrUnavailable "disk or database full",
// the probe fails the same way, and both recover once there is room.
func TestFullDatabaseIsUnavailable(t *testing.T) {
	f := newFixture(t, func(t *testing.T) *DB { return openSQLite(t) })
	_, d := f.register("alice")
	ctx := f.ctx
	var pages int
	if err := f.db.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		var res []store.AppendResult
		res, err = f.db.AppendEnvelopes(ctx, []store.NewEnvelope{{Mailbox: d.Mailbox, Data: randBytes(16 << 10)}}, store.MailboxLimits{})
		if err == nil && res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	if !errors.Is(err, store.ErrUnavailable) || store.UnavailableReason(err) != reasonFull {
		t.Fatalf("append to a full database: %v", err)
	}
	t.Logf("append to a full database: %v", err)
	err = f.db.PutToken(ctx, store.Token{Hash: randBytes(32), Purpose: "auth-challenge", Username: "alice", DeviceID: 1,
		ExpiresAt: f.now.Now().Add(time.Minute)})
	if err != nil && !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("challenge on a full database: %v", err)
	}
	if err := f.db.Probe(ctx); !errors.Is(err, store.ErrUnavailable) || store.UnavailableReason(err) != reasonFull {
		t.Fatalf("probe of a full database: %v", err)
	}
	if _, err := f.db.w.ExecContext(ctx, "PRAGMA max_page_count = 1000000"); err != nil {
		t.Fatal(err)
	}
	// The probe's own write succeeds at once; the failed appends keep it
	// failing for failureWindow.
	if err := f.db.probe(ctx); err != nil {
		t.Fatalf("probe write after room was made: %v", err)
	}
	if err := f.db.Probe(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("probe just after failed writes: %v", err)
	}
	if err := f.db.failed.recent(time.Now().Add(failureWindow)); err != nil {
		t.Fatalf("a failure older than the window still counts: %v", err)
	}
	if _, err := f.db.AppendEnvelopes(ctx, []store.NewEnvelope{{Mailbox: d.Mailbox, Data: randBytes(16 << 10)}}, store.MailboxLimits{}); err != nil {
		t.Fatalf("append after room was made: %v", err)
	}
}

// The errors of a store that cannot serve are ErrUnavailable with a
// reason; the errors of a bad request or a bug are not.
func TestUnavailableClassification(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&pgconn.PgError{Code: "53100"}, reasonFull},
		{&pgconn.PgError{Code: "53300"}, reasonResources},
		{&pgconn.PgError{Code: "08006"}, reasonConnect},
		{&pgconn.PgError{Code: "57P01"}, reasonShutdown},
		{&pgconn.PgError{Code: "25006"}, reasonReadOnly},
		{&pgconn.PgError{Code: "57014"}, reasonTimeout},
		{&pgconn.PgError{Code: "58030"}, reasonIO},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, reasonConnect},
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, reasonFull},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.EROFS}, reasonReadOnly},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), reasonTimeout},
		{errors.New("sql: database is closed"), reasonClosed},
		{&pgconn.PgError{Code: pgUniqueViolation}, ""},
		{&pgconn.PgError{Code: "42601"}, ""}, // syntax error: a bug
		{context.Canceled, ""},
		{io.ErrUnexpectedEOF, ""},
		{store.ErrNotFound, ""},
		{ErrInvalid, ""},
	} {
		err := dbErr("op", tc.err)
		if got := store.UnavailableReason(err); got != tc.want || errors.Is(err, store.ErrUnavailable) != (tc.want != "") {
			t.Errorf("%v: reason %q, want %q", tc.err, got, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%v: the cause is lost: %v", tc.err, err)
		}
	}
}
