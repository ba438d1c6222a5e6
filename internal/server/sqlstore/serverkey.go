package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ServerKey returns the server public signing key the database records,
// or nil when none is recorded yet (a new database, or one migrated from
// a version before the record existed).
func (db *DB) ServerKey(ctx context.Context) ([]byte, error) {
	var pub []byte
	err := db.queryRow(ctx, "SELECT public_key FROM server_identity WHERE id = 1").Scan(&pub)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return pub, dbErr("read server key", err)
}

// ClaimServerKey records pub as the deployment's server key unless one is
// recorded already, and returns the recorded key: pub itself when this
// call recorded it. Two servers claiming at once on one database record
// one key; the other finds it. When the database records no key but
// already has accounts (a deployment from before the record existed), pub
// is recorded only if allowAdopt: the caller says whether pub is the key
// that signed for those accounts (it was not made just now).
func (db *DB) ClaimServerKey(ctx context.Context, pub []byte, allowAdopt bool) (recorded []byte, accounts int64, err error) {
	if len(pub) == 0 {
		return nil, 0, fmt.Errorf("%w: empty server key", ErrInvalid)
	}
	err = db.write(ctx, func(t tx) error {
		recorded, accounts = nil, 0
		err := t.queryRow(ctx, "SELECT public_key FROM server_identity WHERE id = 1").Scan(&recorded)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := t.queryRow(ctx, "SELECT COUNT(*) FROM accounts").Scan(&accounts); err != nil {
			return err
		}
		if accounts > 0 && !allowAdopt {
			return nil
		}
		// ON CONFLICT: a PostgreSQL instance that read no row at the same
		// time as this one inserts nothing; the row is read back below.
		if _, err := t.exec(ctx, "INSERT INTO server_identity (id, public_key, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING",
			pub, ms(db.now())); err != nil {
			return err
		}
		return t.queryRow(ctx, "SELECT public_key FROM server_identity WHERE id = 1").Scan(&recorded)
	})
	return recorded, accounts, dbErr("claim server key", err)
}

// SetServerKey records pub as the deployment's server key, replacing the
// one recorded: a key rotation. It returns the key it replaced (nil if
// none).
func (db *DB) SetServerKey(ctx context.Context, pub []byte) (old []byte, err error) {
	if len(pub) == 0 {
		return nil, fmt.Errorf("%w: empty server key", ErrInvalid)
	}
	err = db.write(ctx, func(t tx) error {
		old = nil
		err := t.queryRow(ctx, "SELECT public_key FROM server_identity WHERE id = 1"+db.forUpdate()).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = t.exec(ctx, `INSERT INTO server_identity (id, public_key, created_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key, created_at = excluded.created_at`, pub, ms(db.now()))
		return err
	})
	return old, dbErr("set server key", err)
}
