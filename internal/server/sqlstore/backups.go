package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// backupSecretName names the OPRF secret's row in server_secrets.
const backupSecretName = "backup_oprf"

// BackupSecret returns the stored backup OPRF secret, storing fresh first
// when there is none: an insert that loses a race changes nothing, and
// every caller reads the winner.
func (db *DB) BackupSecret(ctx context.Context, fresh []byte) ([]byte, error) {
	var v []byte
	err := db.queryRow(ctx, "SELECT value FROM server_secrets WHERE name = ?", backupSecretName).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, dbErr("get backup secret", err)
	}
	err = db.write(ctx, func(t tx) error {
		if _, err := t.exec(ctx, "INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
			backupSecretName, fresh); err != nil {
			return err
		}
		return t.queryRow(ctx, "SELECT value FROM server_secrets WHERE name = ?", backupSecretName).Scan(&v)
	})
	return v, dbErr("create backup secret", err)
}

// CountBackupEvaluation counts one evaluation in the account's window,
// starting a new window when the last one has passed.
func (db *DB) CountBackupEvaluation(ctx context.Context, username string, now time.Time, window time.Duration, max int) (store.BackupCount, error) {
	var c store.BackupCount
	err := db.write(ctx, func(t tx) error {
		if err := db.lockAccount(ctx, t, username); err != nil {
			return err
		}
		var start int64
		err := t.queryRow(ctx, "SELECT window_start, used FROM backup_evaluations WHERE username = ?"+db.forUpdate(),
			username).Scan(&start, &c.Used)
		exists := err == nil
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		}
		c.WindowStart = time.UnixMilli(start)
		if !exists || !now.Before(c.WindowStart.Add(window)) {
			c.Used, c.WindowStart = 0, now
		}
		if c.Used >= max {
			return store.ErrLimit
		}
		c.Used++
		if exists {
			_, err = t.exec(ctx, "UPDATE backup_evaluations SET window_start = ?, used = ? WHERE username = ?",
				c.WindowStart.UnixMilli(), c.Used, username)
		} else {
			_, err = t.exec(ctx, "INSERT INTO backup_evaluations (username, window_start, used) VALUES (?, ?, ?)",
				username, c.WindowStart.UnixMilli(), c.Used)
		}
		return err
	})
	if errors.Is(err, store.ErrLimit) || errors.Is(err, store.ErrNotFound) {
		return c, err
	}
	return c, dbErr("count backup evaluation", err)
}

// ResetBackupEvaluations forgets the account's evaluations.
func (db *DB) ResetBackupEvaluations(ctx context.Context, username string) error {
	err := db.write(ctx, func(t tx) error {
		_, err := t.exec(ctx, "DELETE FROM backup_evaluations WHERE username = ?", username)
		return err
	})
	return dbErr("reset backup evaluations", err)
}

// PutBackup stores the account's backup, replacing any.
func (db *DB) PutBackup(ctx context.Context, username string, data []byte, now time.Time) error {
	err := db.write(ctx, func(t tx) error {
		if err := db.lockAccount(ctx, t, username); err != nil {
			return err
		}
		_, err := t.exec(ctx, "INSERT INTO backups (username, data, updated_at) VALUES (?, ?, ?) "+
			"ON CONFLICT (username) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
			username, data, now.UnixMilli())
		return err
	})
	return dbErr("put backup", err)
}

// GetBackup returns the account's backup, or ErrNotFound.
func (db *DB) GetBackup(ctx context.Context, username string) ([]byte, error) {
	var v []byte
	err := db.queryRow(ctx, "SELECT data FROM backups WHERE username = ?", username).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return v, dbErr("get backup", err)
}
