package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

const accountCols = "username, identity_key, key_version, state, email, created_at, updated_at"

func scanAccount(sc interface{ Scan(...any) error }) (*store.Account, error) {
	var a store.Account
	var created, updated int64
	if err := sc.Scan(&a.Username, &a.IdentityKey, &a.KeyVersion, &a.State, &a.Email, &created, &updated); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = fromMS(created), fromMS(updated)
	return &a, nil
}

// CreateAccount registers a new account with its first device; see
// store.Directory. a.KeyVersion is ignored (a registration is version 1); a
// zero a.State means StateActive; a zero a.CreatedAt means now. The e-mail
// address is kept only for a pending account.
func (db *DB) CreateAccount(ctx context.Context, a store.Account, d store.Device, signed, lastResort store.PreKey, allowReuse bool) error {
	a, d, err := db.prepareAccount(a, d)
	if err != nil {
		return err
	}
	err = db.write(ctx, func(t tx) error { return db.createAccountTx(ctx, t, a, d, signed, lastResort, allowReuse) })
	return dbErr("create account", err)
}

// ImportAccounts creates many new accounts in one transaction.
func (db *DB) ImportAccounts(ctx context.Context, imports []store.Import) error {
	for i := range imports {
		a, d, err := db.prepareAccount(imports[i].Account, imports[i].Device)
		if err != nil {
			return err
		}
		imports[i].Account, imports[i].Device = a, d
	}
	err := db.write(ctx, func(t tx) error {
		for _, im := range imports {
			if err := db.createAccountTx(ctx, t, im.Account, im.Device, im.Signed, im.LastResort, false); err != nil {
				return err
			}
		}
		return nil
	})
	return dbErr("import accounts", err)
}

// prepareAccount validates a new account and fills its defaults.
func (db *DB) prepareAccount(a store.Account, d store.Device) (store.Account, store.Device, error) {
	if a.State == 0 {
		a.State = store.StateActive
	}
	if a.Username == "" || len(a.IdentityKey) == 0 || (a.State != store.StateActive && a.State != store.StatePending) {
		return a, d, fmt.Errorf("%w: account", ErrInvalid)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = db.now()
	}
	if a.State != store.StatePending {
		a.Email = ""
	}
	d.Username = a.Username
	if d.CreatedAt.IsZero() {
		d.CreatedAt = a.CreatedAt
	}
	return a, d, nil
}

// createAccountTx inserts one prepared account inside transaction t.
func (db *DB) createAccountTx(ctx context.Context, t tx, a store.Account, d store.Device, signed, lastResort store.PreKey, allowReuse bool) error {
	var key []byte
	var state store.AccountState
	err := t.queryRow(ctx, "SELECT identity_key, state FROM accounts WHERE username = ?"+db.forUpdate(),
		a.Username).Scan(&key, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case state != store.StateDeleted:
		return store.ErrUsernameTaken
	case !allowReuse && !bytes.Equal(key, a.IdentityKey):
		return store.ErrUsernameTaken
	default:
		// Replace the tombstone; its key history goes with it (the
		// cascade), as the new account starts again at version 1.
		if _, err := t.exec(ctx, "DELETE FROM accounts WHERE username = ?", a.Username); err != nil {
			return err
		}
	}
	created := ms(a.CreatedAt)
	if _, err := t.exec(ctx, "INSERT INTO accounts ("+accountCols+") VALUES (?, ?, 1, ?, ?, ?, ?)",
		a.Username, a.IdentityKey, a.State, a.Email, created, created); err != nil {
		if isUnique(err) {
			// A concurrent registration of the same name won.
			return store.ErrUsernameTaken
		}
		return err
	}
	if _, err := t.exec(ctx, "INSERT INTO key_history (username, version, identity_key, valid_from, valid_until) VALUES (?, 1, ?, ?, 0)",
		a.Username, a.IdentityKey, created); err != nil {
		return err
	}
	return db.insertDevice(ctx, t, d, &signed, &lastResort)
}

// GetAccount returns the account in any state, or ErrNotFound.
func (db *DB) GetAccount(ctx context.Context, username string) (*store.Account, error) {
	a, err := scanAccount(db.queryRow(ctx, "SELECT "+accountCols+" FROM accounts WHERE username = ?", username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return a, dbErr("get account", err)
}

// GetAccounts returns the accounts that exist among usernames.
func (db *DB) GetAccounts(ctx context.Context, usernames []string) ([]store.Account, error) {
	var out []store.Account
	err := inChunks(dedupe(usernames), func(names []string) error {
		rows, err := db.query(ctx, "SELECT "+accountCols+" FROM accounts WHERE username IN ("+placeholders(len(names))+")",
			anys(names)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAccount(rows)
			if err != nil {
				return err
			}
			out = append(out, *a)
		}
		return rows.Err()
	})
	return out, dbErr("get accounts", err)
}

// ActivateAccount moves a pending account to active and forgets its
// e-mail address. An account that is not pending is ErrNotFound.
func (db *DB) ActivateAccount(ctx context.Context, username string) error {
	err := db.write(ctx, func(t tx) error {
		res, err := t.exec(ctx, "UPDATE accounts SET state = ?, email = '', updated_at = ? WHERE username = ? AND state = ?",
			store.StateActive, db.now().UnixMilli(), username, store.StatePending)
		return affected(res, err)
	})
	return dbErr("activate account", err)
}

// DeleteAccount turns the account into a tombstone; see store.Directory.
// Deleting a tombstone again succeeds. The key history is kept.
func (db *DB) DeleteAccount(ctx context.Context, username string) error {
	err := db.write(ctx, func(t tx) error {
		var state store.AccountState
		err := t.queryRow(ctx, "SELECT state FROM accounts WHERE username = ?"+db.forUpdate(), username).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		// Devices cascade to prekeys, sessions, mailboxes and envelopes.
		for _, q := range []string{
			"DELETE FROM devices WHERE username = ?",
			"DELETE FROM tokens WHERE username = ?",
			"DELETE FROM device_lists WHERE username = ?",
			"DELETE FROM backups WHERE username = ?",
			"DELETE FROM backup_evaluations WHERE username = ?",
		} {
			if _, err := t.exec(ctx, q, username); err != nil {
				return err
			}
		}
		_, err = t.exec(ctx, "UPDATE accounts SET state = ?, email = '', updated_at = ? WHERE username = ?",
			store.StateDeleted, db.now().UnixMilli(), username)
		return err
	})
	return dbErr("delete account", err)
}

// PurgeAccount removes an account and everything it owns, username
// included.
func (db *DB) PurgeAccount(ctx context.Context, username string) error {
	err := db.write(ctx, func(t tx) error {
		// Everything else references the account row and cascades.
		res, err := t.exec(ctx, "DELETE FROM accounts WHERE username = ?", username)
		return affected(res, err)
	})
	return dbErr("purge account", err)
}

// ExpirePending purges pending accounts created before cutoff.
func (db *DB) ExpirePending(ctx context.Context, cutoff time.Time) ([]string, error) {
	var names []string
	err := db.write(ctx, func(t tx) error {
		names = names[:0]
		rows, err := t.query(ctx, "SELECT username FROM accounts WHERE state = ? AND created_at < ? ORDER BY username"+db.forUpdate(),
			store.StatePending, ms(cutoff))
		if err != nil {
			return err
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			names = append(names, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return inChunks(names, func(batch []string) error {
			_, err := t.exec(ctx, "DELETE FROM accounts WHERE username IN ("+placeholders(len(batch))+")", anys(batch)...)
			return err
		})
	})
	if err != nil {
		return nil, dbErr("expire pending accounts", err)
	}
	return names, nil
}

// RotateIdentity replaces the account's identity key; see
// store.Directory. A tombstone cannot rotate (ErrNotFound). The new
// devices get no prekeys: the caller sets them with SetPreKey.
func (db *DB) RotateIdentity(ctx context.Context, username string, newKey []byte, devs []store.Device, now time.Time) error {
	return db.RotateIdentitySigned(ctx, username, newKey, devs, now, nil, nil)
}

// RotateIdentitySigned is RotateIdentity that also keeps the rotation
// statement with the new key's history entry and, when list is not nil,
// publishes the new key's first device list, in the same transaction.
func (db *DB) RotateIdentitySigned(ctx context.Context, username string, newKey []byte, devs []store.Device, now time.Time,
	statement []byte, list *store.DeviceList) error {
	if len(newKey) == 0 {
		return fmt.Errorf("%w: empty identity key", ErrInvalid)
	}
	err := db.write(ctx, func(t tx) error {
		var version int
		var state store.AccountState
		err := t.queryRow(ctx, "SELECT key_version, state FROM accounts WHERE username = ?"+db.forUpdate(),
			username).Scan(&version, &state)
		if errors.Is(err, sql.ErrNoRows) || state == store.StateDeleted {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		at := ms(now)
		if _, err := t.exec(ctx, "UPDATE key_history SET valid_until = ? WHERE username = ? AND valid_until = 0", at, username); err != nil {
			return err
		}
		if _, err := t.exec(ctx, "INSERT INTO key_history (username, version, identity_key, valid_from, valid_until, rotation) VALUES (?, ?, ?, ?, 0, ?)",
			username, version+1, newKey, at, nilIfEmpty(statement)); err != nil {
			return err
		}
		if _, err := t.exec(ctx, "UPDATE accounts SET identity_key = ?, key_version = ?, updated_at = ? WHERE username = ?",
			newKey, version+1, at, username); err != nil {
			return err
		}
		// Old devices cascade to their prekeys, sessions, mailboxes and
		// envelopes: mailbox ids derive from the identity key, so the old
		// mailboxes have no future.
		if _, err := t.exec(ctx, "DELETE FROM devices WHERE username = ?", username); err != nil {
			return err
		}
		// A device list names the identity key that signed it: the new
		// key publishes its own.
		if _, err := t.exec(ctx, "DELETE FROM device_lists WHERE username = ?", username); err != nil {
			return err
		}
		for _, d := range devs {
			d.Username = username
			if d.CreatedAt.IsZero() {
				d.CreatedAt = now
			}
			if err := db.insertDevice(ctx, t, d, nil, nil); err != nil {
				return err
			}
		}
		if list != nil {
			return db.putList(ctx, t, username, *list)
		}
		return nil
	})
	return dbErr("rotate identity", err)
}

// nilIfEmpty stores an empty byte string as NULL.
func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// KeyHistory returns the account's identity keys, oldest first.
func (db *DB) KeyHistory(ctx context.Context, username string) ([]store.KeyHistory, error) {
	rows, err := db.query(ctx, "SELECT version, identity_key, valid_from, valid_until, rotation FROM key_history WHERE username = ? ORDER BY version", username)
	if err != nil {
		return nil, dbErr("key history", err)
	}
	defer rows.Close()
	var out []store.KeyHistory
	for rows.Next() {
		var h store.KeyHistory
		var from, until int64
		if err := rows.Scan(&h.Version, &h.IdentityKey, &from, &until, &h.Rotation); err != nil {
			return nil, dbErr("key history", err)
		}
		h.ValidFrom, h.ValidUntil = fromMS(from), fromMS(until)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("key history", err)
	}
	if len(out) == 0 {
		// Every account has at least one entry.
		return nil, store.ErrNotFound
	}
	return out, nil
}

// CountAccounts returns how many accounts exist in any state.
func (db *DB) CountAccounts(ctx context.Context) (int64, error) {
	var n int64
	err := db.queryRow(ctx, "SELECT COUNT(*) FROM accounts").Scan(&n)
	return n, dbErr("count accounts", err)
}

// affected turns "no row changed" into ErrNotFound.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// dedupe returns xs without repeats, in first-seen order.
func dedupe[T comparable](xs []T) []T {
	seen := make(map[T]bool, len(xs))
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
