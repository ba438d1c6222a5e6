package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// ClaimRequest records a signed request's hash for account until
// expiresAt, refusing a hash recorded before (ErrExists) and an account
// over max unexpired records (ErrLimit). A record that has expired but
// not yet been swept is replaced. Under PostgreSQL two concurrent claims
// of one account may both pass the count, so an account can end a few
// records over max; the same hash is still recorded only once (primary
// key).
func (db *DB) ClaimRequest(ctx context.Context, hash []byte, account string, expiresAt, now time.Time, max int) error {
	if len(hash) == 0 || account == "" {
		return fmt.Errorf("%w: empty request hash or account", ErrInvalid)
	}
	err := db.write(ctx, func(t tx) error {
		var exp int64
		err := t.queryRow(ctx, "SELECT expires_at FROM signed_requests WHERE hash = ?"+db.forUpdate(), hash).Scan(&exp)
		switch {
		case err == nil && exp > ms(now):
			return store.ErrExists
		case err == nil:
			if _, err := t.exec(ctx, "DELETE FROM signed_requests WHERE hash = ?", hash); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if max > 0 {
			var n int
			err := t.queryRow(ctx, "SELECT COUNT(*) FROM signed_requests WHERE account = ? AND expires_at > ?",
				account, ms(now)).Scan(&n)
			if err != nil {
				return err
			}
			if n >= max {
				return store.ErrLimit
			}
		}
		_, err = t.exec(ctx, "INSERT INTO signed_requests (hash, account, expires_at) VALUES (?, ?, ?)",
			hash, account, ms(expiresAt))
		if isUnique(err) {
			return store.ErrExists // claimed concurrently
		}
		return err
	})
	return dbErr("claim request", err)
}

// ExpireRequests deletes request records that expired before now.
func (db *DB) ExpireRequests(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(t tx) error {
		res, err := t.exec(ctx, "DELETE FROM signed_requests WHERE expires_at <= ?", ms(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, dbErr("expire requests", err)
}
