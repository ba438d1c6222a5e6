package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// Tokens and sessions are looked up by the SHA-256 hash of their secret:
// the database never holds a usable token, and the lookup is an index
// probe on a hash, so its timing tells nothing about the secret.

// PutToken stores a token. Its username must exist (ErrNotFound); a hash
// already stored is ErrExists. A zero ExpiresAt never expires.
func (db *DB) PutToken(ctx context.Context, tk store.Token) error {
	if len(tk.Hash) == 0 || tk.Purpose == "" {
		return fmt.Errorf("%w: token needs a hash and a purpose", ErrInvalid)
	}
	err := db.write(ctx, func(t tx) error {
		var one int
		err := t.queryRow(ctx, "SELECT 1 FROM accounts WHERE username = ?", tk.Username).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		return insertToken(ctx, t, tk)
	})
	return dbErr("put token", err)
}

// TakeToken removes and returns the token with this hash and purpose if it
// has not expired at now (now before ExpiresAt); ErrNotFound otherwise. An
// expired token is removed too.
func (db *DB) TakeToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*store.Token, error) {
	var tk store.Token
	var exp int64
	err := db.write(ctx, func(t tx) error {
		return t.queryRow(ctx, "DELETE FROM tokens WHERE hash = ? AND purpose = ? RETURNING hash, purpose, username, device_id, expires_at",
			nonNil(hash), purpose).Scan(&tk.Hash, &tk.Purpose, &tk.Username, &tk.DeviceID, &exp)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, dbErr("take token", err)
	}
	if now.UnixMilli() >= exp {
		return nil, store.ErrNotFound
	}
	tk.ExpiresAt = fromMS(exp)
	return &tk, nil
}

// ExpireTokens deletes tokens and sessions whose expiry is before now and
// returns how many it deleted.
func (db *DB) ExpireTokens(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	err := db.write(ctx, func(t tx) error {
		total = 0
		for _, q := range []string{
			"DELETE FROM tokens WHERE expires_at < ?",
			"DELETE FROM sessions WHERE expires_at < ?",
		} {
			res, err := t.exec(ctx, q, now.UnixMilli())
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return total, dbErr("expire tokens", err)
}

// PutSession stores a session for an existing device (ErrNotFound) whose
// mailbox is s.Mailbox (ErrInvalid otherwise). A hash already stored is
// ErrExists. A zero ExpiresAt never expires.
func (db *DB) PutSession(ctx context.Context, s store.Session) error {
	if len(s.Hash) == 0 {
		return fmt.Errorf("%w: session needs a hash", ErrInvalid)
	}
	err := db.write(ctx, func(t tx) error {
		var mailbox string
		err := t.queryRow(ctx, "SELECT mailbox FROM devices WHERE username = ? AND device_id = ?", s.Username, s.DeviceID).Scan(&mailbox)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if mailbox != s.Mailbox {
			// A session names the mailbox the relay lets it read; it must
			// be the device's own.
			return fmt.Errorf("%w: session mailbox is not the device's", ErrInvalid)
		}
		// The foreign key on the device makes a concurrent DeleteDevice
		// either wait for this insert and then remove the session, or
		// make this insert fail.
		_, err = t.exec(ctx, "INSERT INTO sessions (hash, username, device_id, mailbox, expires_at) VALUES (?, ?, ?, ?, ?)",
			s.Hash, s.Username, s.DeviceID, s.Mailbox, expiryMS(s.ExpiresAt))
		switch {
		case isUnique(err):
			return store.ErrExists
		case isForeignKey(err):
			return store.ErrNotFound
		}
		return err
	})
	return dbErr("put session", err)
}

// GetSession returns the session with this hash if it has not expired at
// now; ErrNotFound otherwise.
func (db *DB) GetSession(ctx context.Context, hash []byte, now time.Time) (*store.Session, error) {
	var s store.Session
	var exp int64
	err := db.queryRow(ctx, "SELECT hash, username, device_id, mailbox, expires_at FROM sessions WHERE hash = ? AND expires_at > ?",
		nonNil(hash), now.UnixMilli()).Scan(&s.Hash, &s.Username, &s.DeviceID, &s.Mailbox, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get session", err)
	}
	s.ExpiresAt = fromMS(exp)
	return &s, nil
}

// DeleteSession removes a session; ErrNotFound if there is none.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	err := db.write(ctx, func(t tx) error {
		res, err := t.exec(ctx, "DELETE FROM sessions WHERE hash = ?", nonNil(hash))
		return affected(res, err)
	})
	return dbErr("delete session", err)
}

// insertToken stores tk: ErrExists for a hash already stored, ErrNotFound
// when its account or device does not exist.
func insertToken(ctx context.Context, t tx, tk store.Token) error {
	_, err := t.exec(ctx, "INSERT INTO tokens (hash, purpose, username, device_id, expires_at) VALUES (?, ?, ?, ?, ?)",
		tk.Hash, tk.Purpose, tk.Username, tk.DeviceID, expiryMS(tk.ExpiresAt))
	switch {
	case isUnique(err):
		return store.ErrExists
	case isForeignKey(err):
		return store.ErrNotFound
	}
	return err
}
