package store

import (
	"context"
	"time"
)

// BackupCount is where an account's backup OPRF evaluations stand after a
// CountBackupEvaluation: how many of the current window are used, and when
// the window started.
type BackupCount struct {
	Used        int
	WindowStart time.Time
}

// Backups holds key backups (doc/DEVICES.md §5): the server's OPRF secret,
// each account's backup and the count of its OPRF evaluations.
type Backups interface {
	// BackupSecret returns the server's backup OPRF secret. When none is
	// stored yet it stores fresh and returns it; of concurrent callers
	// (also on other server instances) exactly one value wins.
	BackupSecret(ctx context.Context, fresh []byte) ([]byte, error)
	// CountBackupEvaluation counts one OPRF evaluation for the account,
	// in a window of length window that starts at its first evaluation.
	// With max evaluations already used in the current window it counts
	// nothing and returns ErrLimit with the count; ErrNotFound for an
	// unknown account or a tombstone. The check and the count are one
	// transaction.
	CountBackupEvaluation(ctx context.Context, username string, now time.Time, window time.Duration, max int) (BackupCount, error)
	// ResetBackupEvaluations forgets the account's evaluations (the owner
	// lifted the lock).
	ResetBackupEvaluations(ctx context.Context, username string) error
	// PutBackup stores the account's backup, replacing any; ErrNotFound
	// for an unknown account or a tombstone.
	PutBackup(ctx context.Context, username string, data []byte, now time.Time) error
	// GetBackup returns the account's backup; ErrNotFound when it has none.
	GetBackup(ctx context.Context, username string) ([]byte, error)
}
