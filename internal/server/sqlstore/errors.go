package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hush-chat/hush/internal/server/store"
)

// PostgreSQL error codes (Appendix A of its manual).
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgUniqueViolation
}

// isForeignKey reports whether err is a foreign key violation: the row
// referred to (a device, an account) was deleted concurrently.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgForeignKeyViolation
}

// retryable reports whether PostgreSQL aborted a transaction that may
// succeed when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == pgSerializationFailure || pe.Code == pgDeadlockDetected)
}

// isBusy reports whether SQLite gave up on a lock another connection
// holds.
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// Reasons an operator reads when the store is unavailable.
const (
	reasonFull      = "disk or database full"
	reasonIO        = "disk I/O error"
	reasonReadOnly  = "database is read-only"
	reasonLocked    = "database is locked"
	reasonClosed    = "database is closed"
	reasonCantOpen  = "cannot open the database file"
	reasonMemory    = "database out of memory"
	reasonResources = "database out of resources"
	reasonConnect   = "cannot reach the database"
	reasonLost      = "lost the database connection"
	reasonShutdown  = "database is shutting down or starting up"
	reasonTimeout   = "database did not answer in time"
)

// markUnavailable wraps err in a *store.UnavailableError when it means
// the database cannot serve right now (see unavailableReason), and returns
// it unchanged otherwise.
func markUnavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if reason := unavailableReason(err); reason != "" {
		return &store.UnavailableError{Reason: reason, Err: err}
	}
	return err
}

// unavailableReason says why err means the database cannot serve right
// now, or returns "" when err is about the request (a constraint, a bad
// argument) or a bug. A request the client cancelled is not a store
// failure.
func unavailableReason(err error) string {
	if err == nil || errors.Is(err, context.Canceled) {
		return ""
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return sqliteReason(se.Code())
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return postgresReason(pe.Code)
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	var errno syscall.Errno
	switch {
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return reasonTimeout
	case errors.As(err, &ce):
		return reasonConnect
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return reasonLost
	case errors.As(err, &errno):
		return errnoReason(errno)
	case errors.As(err, &ne):
		return reasonConnect
	case errors.Is(err, io.ErrUnexpectedEOF) && isPgconn(err):
		return reasonLost
	case strings.Contains(err.Error(), "sql: database is closed"):
		// database/sql does not export this error.
		return reasonClosed
	}
	return ""
}

// isPgconn reports whether err came from the PostgreSQL driver's
// connection layer (its errors say whether a retry is safe).
func isPgconn(err error) bool {
	var r interface{ SafeToRetry() bool }
	return errors.As(err, &r)
}

func sqliteReason(code int) string {
	switch code & 0xff {
	case sqlite3.SQLITE_FULL:
		return reasonFull
	case sqlite3.SQLITE_IOERR:
		return reasonIO
	case sqlite3.SQLITE_READONLY:
		return reasonReadOnly
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL:
		return reasonLocked
	case sqlite3.SQLITE_CANTOPEN:
		return reasonCantOpen
	case sqlite3.SQLITE_NOMEM:
		return reasonMemory
	}
	return ""
}

// postgresReason classifies a PostgreSQL SQLSTATE (Appendix A of its
// manual).
func postgresReason(code string) string {
	switch {
	case code == "53100":
		return reasonFull
	case code == "53200":
		return reasonMemory
	case strings.HasPrefix(code, "53"): // insufficient resources, too many connections
		return reasonResources
	case strings.HasPrefix(code, "08"): // connection exception
		return reasonConnect
	case code == "57P01", code == "57P02", code == "57P03": // admin or crash shutdown, cannot connect now
		return reasonShutdown
	case code == "57014": // statement timeout
		return reasonTimeout
	case strings.HasPrefix(code, "58"): // system error: I/O
		return reasonIO
	case code == "25006": // read-only transaction: a standby, or default_transaction_read_only
		return reasonReadOnly
	}
	return ""
}

func errnoReason(e syscall.Errno) string {
	switch e {
	case syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG:
		return reasonFull
	case syscall.EIO:
		return reasonIO
	case syscall.EROFS:
		return reasonReadOnly
	case syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH:
		return reasonConnect
	case syscall.ENOMEM:
		return reasonMemory
	}
	return ""
}
