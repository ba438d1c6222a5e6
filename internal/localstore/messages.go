package localstore

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Messages are stored under a local sequence number (insertion order), a
// blinded conversation and a blinded message id. The sealed value carries
// the conversation name, the id, the time and the record; its associated
// data covers conversation, id and sequence number, so a row moved to
// another conversation or place in history fails to open.

func (k *keys) convKey(conversation []byte) []byte {
	return k.blind(tConversations, conversation)
}

// msgKey blinds a message id within its conversation: the blinded
// conversation is fixed-length, so the input is unambiguous.
func (k *keys) msgKey(conv, id []byte) []byte {
	return k.blind(tMessages, append(slices.Clip(conv), id...))
}

func msgRowKey(conv, id []byte, seq int64) []byte {
	return append(append(slices.Clone(conv), id...), be64(uint64(seq))...)
}

// AddMessage stores record as message id of conversation, received or
// sent at at, after every message stored so far. If that id is already
// stored for that conversation it stores nothing and returns false.
func (tx *Tx) AddMessage(conversation string, id []byte, at time.Time, record []byte) (bool, error) {
	return tx.addMessage(conversation, id, at, record, false)
}

// AddIncoming is AddMessage for a received message, marked unshown (see
// SetUnshown) when unshown is set.
func (tx *Tx) AddIncoming(conversation string, id []byte, at time.Time, record []byte, unshown bool) (bool, error) {
	return tx.addMessage(conversation, id, at, record, unshown)
}

func (tx *Tx) addMessage(conversation string, id []byte, at time.Time, record []byte, unshown bool) (bool, error) {
	if err := tx.writable(); err != nil {
		return false, err
	}
	conv := tx.k.convKey([]byte(conversation))
	mid := tx.k.msgKey(conv, id)
	var seq int64
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT seq FROM messages WHERE conv = ? AND id = ?`,
		conv, mid).Scan(&seq)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("localstore: read messages: %w", err)
	}
	// Writers are serialized, so the next number is free until commit.
	if err := tx.tx.QueryRowContext(tx.ctx,
		`SELECT coalesce(max(seq), 0) + 1 FROM messages`).Scan(&seq); err != nil {
		return false, fmt.Errorf("localstore: read messages: %w", err)
	}
	pt := encodeFields([]byte(conversation), id, be64(uint64(at.UnixMilli())), record)
	defer clear(pt)
	v := tx.k.seal(pt, tMessages, msgRowKey(conv, mid, seq))
	flag := 0
	if unshown {
		flag = 1
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO messages (seq, conv, id, v, unshown) VALUES (?, ?, ?, ?, ?)`,
		seq, conv, mid, v, flag); err != nil {
		return false, fmt.Errorf("localstore: write message: %w", err)
	}
	return true, nil
}

// UpdateMessage replaces the record of message id of conversation (a
// delivery state changed), keeping its place in history. ErrNotFound if
// there is no such message.
func (tx *Tx) UpdateMessage(conversation string, id []byte, record []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	conv := tx.k.convKey([]byte(conversation))
	mid := tx.k.msgKey(conv, id)
	var seq int64
	var old []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT seq, v FROM messages WHERE conv = ? AND id = ?`,
		conv, mid).Scan(&seq, &old)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("localstore: read messages: %w", err)
	}
	rk := msgRowKey(conv, mid, seq)
	f, err := tx.openMessage(old, rk)
	if err != nil {
		return err
	}
	pt := encodeFields(f[0], f[1], f[2], record)
	defer clear(pt)
	v := tx.k.seal(pt, tMessages, rk)
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET v = ? WHERE seq = ?`, v, seq); err != nil {
		return fmt.Errorf("localstore: write message: %w", err)
	}
	return nil
}

// openMessage opens a message value: conversation, id, time, record.
func (tx *Tx) openMessage(v, rowKey []byte) ([][]byte, error) {
	pt, err := tx.k.open(v, tMessages, rowKey)
	if err != nil {
		return nil, err
	}
	f, err := decodeFields(pt, 4)
	if err != nil {
		return nil, err
	}
	if len(f[2]) != 8 {
		return nil, fmt.Errorf("%w: malformed message time", ErrCorrupt)
	}
	return f, nil
}

// History returns the records of the last limit messages of conversation
// (all of them if limit <= 0), oldest first, in the order they were added.
func (tx *Tx) History(conversation string, limit int) ([][]byte, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	conv := tx.k.convKey([]byte(conversation))
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT seq, id, v FROM messages
		WHERE conv = ? ORDER BY seq DESC LIMIT ?`, conv, limit)
	if err != nil {
		return nil, fmt.Errorf("localstore: read messages: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var seq int64
		var mid, v []byte
		if err := rows.Scan(&seq, &mid, &v); err != nil {
			return nil, fmt.Errorf("localstore: read messages: %w", err)
		}
		f, err := tx.openMessage(v, msgRowKey(conv, mid, seq))
		if err != nil {
			return nil, err
		}
		// Defense in depth: the associated data already binds the row.
		if !bytes.Equal(f[0], []byte(conversation)) {
			return nil, fmt.Errorf("%w: message filed under another conversation", ErrCorrupt)
		}
		out = append(out, f[3])
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localstore: read messages: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// GetMessage returns the record of message id of conversation, or
// ErrNotFound.
func (tx *Tx) GetMessage(conversation string, id []byte) ([]byte, error) {
	conv := tx.k.convKey([]byte(conversation))
	mid := tx.k.msgKey(conv, id)
	var seq int64
	var v []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT seq, v FROM messages WHERE conv = ? AND id = ?`,
		conv, mid).Scan(&seq, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("localstore: read messages: %w", err)
	}
	f, err := tx.openMessage(v, msgRowKey(conv, mid, seq))
	if err != nil {
		return nil, err
	}
	return f[3], nil
}

// SetUnshown marks message id of conversation as received but not yet
// shown to the user (unshown true), or as shown. The mark is the one
// thing about a message stored in the clear besides its place: a reader
// of the file learns how many messages wait to be seen, not which.
func (tx *Tx) SetUnshown(conversation string, id []byte, unshown bool) error {
	if err := tx.writable(); err != nil {
		return err
	}
	conv := tx.k.convKey([]byte(conversation))
	mid := tx.k.msgKey(conv, id)
	v := 0
	if unshown {
		v = 1
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET unshown = ? WHERE conv = ? AND id = ?`, v, conv, mid); err != nil {
		return fmt.Errorf("localstore: write messages: %w", err)
	}
	return nil
}

// Unshown returns the records of up to limit messages marked unshown
// (all if limit <= 0), in the order they were stored.
func (tx *Tx) Unshown(limit int) ([][]byte, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT seq, conv, id, v FROM messages WHERE unshown = 1 ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("localstore: read messages: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var seq int64
		var conv, mid, v []byte
		if err := rows.Scan(&seq, &conv, &mid, &v); err != nil {
			return nil, fmt.Errorf("localstore: read messages: %w", err)
		}
		f, err := tx.openMessage(v, msgRowKey(conv, mid, seq))
		if err != nil {
			return nil, err
		}
		out = append(out, f[3])
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localstore: read messages: %w", err)
	}
	return out, nil
}
