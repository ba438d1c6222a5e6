package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// PutInvite stores a new invite; see store.Invites.
func (db *DB) PutInvite(ctx context.Context, inv store.Invite) error {
	if err := db.prepareInvite(&inv); err != nil {
		return err
	}
	err := db.write(ctx, func(t tx) error { return insertInvite(ctx, t, inv) })
	return dbErr("put invite", err)
}

// PutUserInvite stores an invite issued by a user within limit; see
// store.Invites.
func (db *DB) PutUserInvite(ctx context.Context, inv store.Invite, limit int) error {
	if err := db.prepareInvite(&inv); err != nil {
		return err
	}
	if inv.CreatedBy == "" {
		return fmt.Errorf("%w: a user invite names its issuer", ErrInvalid)
	}
	err := db.write(ctx, func(t tx) error {
		// Locking the issuer's row serializes their concurrent requests on
		// PostgreSQL (SQLite serializes every writer anyway).
		var name string
		err := t.queryRow(ctx, "SELECT username FROM accounts WHERE username = ?"+db.forUpdate(), inv.CreatedBy).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		var n int
		if err := t.queryRow(ctx, "SELECT COUNT(*) FROM invites WHERE created_by = ? AND (used > 0 OR expires_at > ?)",
			inv.CreatedBy, ms(inv.CreatedAt)).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return store.ErrInviteLimit
		}
		return insertInvite(ctx, t, inv)
	})
	return dbErr("put user invite", err)
}

// CountUserInvites counts a user's invites that were used or are still
// valid at now.
func (db *DB) CountUserInvites(ctx context.Context, username string, now time.Time) (int, error) {
	var n int
	err := db.queryRow(ctx, "SELECT COUNT(*) FROM invites WHERE created_by = ? AND (used > 0 OR expires_at > ?)",
		username, ms(now)).Scan(&n)
	return n, dbErr("count user invites", err)
}

// CreateAccountWithInvite redeems one use of an invite and creates the
// account in one transaction; see store.Invites.
func (db *DB) CreateAccountWithInvite(ctx context.Context, hash []byte, now time.Time, a store.Account, d store.Device,
	signed, lastResort store.PreKey, allowReuse bool) (*store.Invite, error) {
	a, d, err := db.prepareAccount(a, d)
	if err != nil {
		return nil, err
	}
	var inv *store.Invite
	err = db.write(ctx, func(t tx) error {
		var err error
		if inv, err = db.redeemInviteTx(ctx, t, hash, now); err != nil {
			return err
		}
		return db.createAccountTx(ctx, t, a, d, signed, lastResort, allowReuse)
	})
	if err != nil {
		return nil, dbErr("create account with invite", err)
	}
	return inv, nil
}

// redeemInviteTx takes one use of the invite inside t. The row lock (on
// PostgreSQL; SQLite's writers are serialized) makes a second, concurrent
// redemption wait and then see the use taken.
func (db *DB) redeemInviteTx(ctx context.Context, t tx, hash []byte, now time.Time) (*store.Invite, error) {
	inv := store.Invite{Hash: append([]byte(nil), hash...)}
	var created, expires int64
	err := t.queryRow(ctx, "SELECT created_by, created_at, expires_at, max_uses, used FROM invites WHERE hash = ?"+db.forUpdate(),
		hash).Scan(&inv.CreatedBy, &created, &expires, &inv.MaxUses, &inv.Used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	inv.CreatedAt, inv.ExpiresAt = fromMS(created), fromMS(expires)
	if inv.Used >= inv.MaxUses {
		return nil, store.ErrInviteUsed
	}
	if expires <= ms(now) {
		return nil, store.ErrInviteExpired
	}
	res, err := t.exec(ctx, "UPDATE invites SET used = used + 1 WHERE hash = ? AND used < max_uses", hash)
	if err := affected(res, err); errors.Is(err, store.ErrNotFound) {
		return nil, store.ErrInviteUsed
	} else if err != nil {
		return nil, err
	}
	return &inv, nil
}

// ReleaseInvite gives back one use; ErrNotFound when the invite is gone
// or has no use to give back.
func (db *DB) ReleaseInvite(ctx context.Context, hash []byte) error {
	err := db.write(ctx, func(t tx) error {
		res, err := t.exec(ctx, "UPDATE invites SET used = used - 1 WHERE hash = ? AND used > 0", hash)
		return affected(res, err)
	})
	return dbErr("release invite", err)
}

// prepareInvite checks a new invite and fills its defaults.
func (db *DB) prepareInvite(inv *store.Invite) error {
	if len(inv.Hash) == 0 || inv.MaxUses < 1 || inv.Used != 0 || inv.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: invite", ErrInvalid)
	}
	if inv.CreatedAt.IsZero() {
		inv.CreatedAt = db.now()
	}
	return nil
}

func insertInvite(ctx context.Context, t tx, inv store.Invite) error {
	_, err := t.exec(ctx, "INSERT INTO invites (hash, created_by, created_at, expires_at, max_uses, used) VALUES (?, ?, ?, ?, ?, 0)",
		inv.Hash, inv.CreatedBy, ms(inv.CreatedAt), ms(inv.ExpiresAt), inv.MaxUses)
	if isUnique(err) {
		return store.ErrExists
	}
	return err
}
