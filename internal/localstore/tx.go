package localstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Table names; they also label blinded keys and associated data.
const (
	tSecrets       = "secrets"
	tContacts      = "contacts"
	tSessions      = "sessions"
	tMessages      = "messages"
	tConversations = "conversations" // blinds conversation names (no table)
	tSeen          = "seen_sources"
)

// Tx is a transaction of Update or View. It is valid only inside the
// function it was passed to. Values it returns are the caller's.
type Tx struct {
	ctx      context.Context
	tx       *sql.Tx
	k        *keys
	keepSeen int
	readOnly bool
}

func (tx *Tx) writable() error {
	if tx.readOnly {
		return errReadOnly
	}
	return nil
}

// putKV stores fields sealed under the blinded key k of a key-value table.
func (tx *Tx) putKV(table string, k []byte, fields ...[]byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	pt := encodeFields(fields...)
	defer clear(pt)
	v := tx.k.seal(pt, table, k)
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO `+table+` (k, v) VALUES (?, ?)
		ON CONFLICT (k) DO UPDATE SET v = excluded.v`, k, v)
	if err != nil {
		return fmt.Errorf("localstore: write %s: %w", table, err)
	}
	return nil
}

// getKV opens the value under the blinded key k and returns its n fields.
func (tx *Tx) getKV(table string, k []byte, n int) ([][]byte, error) {
	var v []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT v FROM `+table+` WHERE k = ?`, k).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("localstore: read %s: %w", table, err)
	}
	pt, err := tx.k.open(v, table, k)
	if err != nil {
		return nil, err
	}
	return decodeFields(pt, n)
}

// PutSecret stores value under name (identity seed, device keys, keyring,
// settings), replacing what was there.
func (tx *Tx) PutSecret(name string, value []byte) error {
	return tx.putKV(tSecrets, tx.k.blind(tSecrets, []byte(name)), []byte(name), value)
}

// GetSecret returns the value stored under name, or ErrNotFound.
func (tx *Tx) GetSecret(name string) ([]byte, error) {
	f, err := tx.getKV(tSecrets, tx.k.blind(tSecrets, []byte(name)), 2)
	if err != nil {
		return nil, err
	}
	return f[1], nil
}

// PutContact stores the record of username, replacing what was there.
func (tx *Tx) PutContact(username string, record []byte) error {
	return tx.putKV(tContacts, tx.k.blind(tContacts, []byte(username)), []byte(username), record)
}

// GetContact returns the record of username, or ErrNotFound.
func (tx *Tx) GetContact(username string) ([]byte, error) {
	f, err := tx.getKV(tContacts, tx.k.blind(tContacts, []byte(username)), 2)
	if err != nil {
		return nil, err
	}
	return f[1], nil
}

// ListContacts returns every contact record, in no particular order.
func (tx *Tx) ListContacts() ([][]byte, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT k, v FROM contacts`)
	if err != nil {
		return nil, fmt.Errorf("localstore: read contacts: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("localstore: read contacts: %w", err)
		}
		pt, err := tx.k.open(v, tContacts, k)
		if err != nil {
			return nil, err
		}
		f, err := decodeFields(pt, 2)
		if err != nil {
			return nil, err
		}
		out = append(out, f[1])
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localstore: read contacts: %w", err)
	}
	return out, nil
}

// sessionName is what a session's row key is blinded from: the device
// first, fixed-length, so no (username, device) pair shares it with another.
func sessionName(username string, device uint32) []byte {
	return append(be32(device), username...)
}

// PutSession stores the session state with device of username.
func (tx *Tx) PutSession(username string, device uint32, state []byte) error {
	k := tx.k.blind(tSessions, sessionName(username, device))
	return tx.putKV(tSessions, k, []byte(username), be32(device), state)
}

// GetSession returns the session state with device of username, or
// ErrNotFound.
func (tx *Tx) GetSession(username string, device uint32) ([]byte, error) {
	f, err := tx.getKV(tSessions, tx.k.blind(tSessions, sessionName(username, device)), 3)
	if err != nil {
		return nil, err
	}
	return f[2], nil
}

// DeleteSession removes the session with device of username (its bytes
// are zeroed in the file). Deleting a session that does not exist is not
// an error.
func (tx *Tx) DeleteSession(username string, device uint32) error {
	if err := tx.writable(); err != nil {
		return err
	}
	k := tx.k.blind(tSessions, sessionName(username, device))
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM sessions WHERE k = ?`, k); err != nil {
		return fmt.Errorf("localstore: delete session: %w", err)
	}
	return nil
}
