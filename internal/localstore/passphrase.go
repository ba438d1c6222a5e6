package localstore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// ChangePassphrase re-encrypts the whole profile under newPassphrase, with
// a fresh salt and DefaultParams, in one transaction: afterwards only
// newPassphrase opens it, and a crash leaves either the old profile or the
// new one. It fails with ErrWrongPassphrase if oldPassphrase is not the
// current one. Other Stores open on the profile get ErrStale from then on.
// The values sealed under the old key are overwritten in place and the
// WAL is truncated, so the old passphrase does not open a copy of the
// file taken afterwards.
func (s *Store) ChangePassphrase(ctx context.Context, oldPassphrase, newPassphrase []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.k == nil {
		return ErrClosed
	}
	m, err := readMeta(ctx, s.w)
	if err != nil {
		return err
	}
	if !bytes.Equal(m.verifier, s.k.verifier) {
		return ErrStale
	}
	check, err := unlock(oldPassphrase, m)
	if err != nil {
		return err
	}
	check.wipe()
	nk, salt, err := newKeys(newPassphrase, s.kdf)
	if err != nil {
		return err
	}
	if err := s.rekeyAll(ctx, nk, salt); err != nil {
		nk.wipe()
		return err
	}
	s.k.wipe()
	s.k = nk
	// Best effort: a reader of another process may hold old WAL frames;
	// they are overwritten by later commits either way.
	s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return nil
}

func (s *Store) rekeyAll(ctx context.Context, nk *keys, salt []byte) error {
	stx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("localstore: begin: %w", err)
	}
	defer stx.Rollback()
	if err := checkFresh(ctx, stx, s.k); err != nil {
		return err
	}
	for _, t := range kvTables {
		if err := rekeyKV(ctx, stx, t, s.k, nk); err != nil {
			return err
		}
	}
	if err := rekeyMessages(ctx, stx, s.k, nk); err != nil {
		return err
	}
	if err := rekeyOutbox(ctx, stx, s.k, nk); err != nil {
		return err
	}
	p := s.kdf
	if _, err := stx.ExecContext(ctx, `UPDATE meta SET kdf_salt = ?, kdf_time = ?,
		kdf_memory = ?, kdf_threads = ?, verifier = ? WHERE id = 1`,
		salt, p.Time, p.Memory, p.Threads, nk.verifier); err != nil {
		return fmt.Errorf("localstore: write metadata: %w", err)
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("localstore: commit: %w", err)
	}
	return nil
}

// kvTable describes a key-value table for re-keying: how many fields its
// plaintexts have and which name its row key is blinded from.
type kvTable struct {
	name    string
	nfields int
	blinded func(f [][]byte) ([]byte, error)
}

var kvTables = []kvTable{
	{tSecrets, 2, func(f [][]byte) ([]byte, error) { return f[0], nil }},
	{tContacts, 2, func(f [][]byte) ([]byte, error) { return f[0], nil }},
	{tSessions, 3, func(f [][]byte) ([]byte, error) {
		if len(f[1]) != 4 {
			return nil, fmt.Errorf("%w: malformed session device", ErrCorrupt)
		}
		return append(slices.Clone(f[1]), f[0]...), nil
	}},
	{tSeen, 1, func(f [][]byte) ([]byte, error) { return f[0], nil }},
}

// rekeyBatch bounds the rows held in memory while re-keying.
const rekeyBatch = 256

type kvRow struct {
	rowid int64
	k, v  []byte
}

// rekeyKV re-seals every row of t under nk, with its row key re-blinded.
// Rows are read a batch at a time by rowid, which an update of k keeps.
func rekeyKV(ctx context.Context, stx *sql.Tx, t kvTable, old, nk *keys) error {
	for after := int64(0); ; {
		batch, err := readKV(ctx, stx, t.name, after)
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, r := range batch {
			pt, err := old.open(r.v, t.name, r.k)
			if err != nil {
				return err
			}
			f, err := decodeFields(pt, t.nfields)
			if err != nil {
				return err
			}
			name, err := t.blinded(f)
			if err != nil {
				return err
			}
			nk2 := nk.blind(t.name, name)
			v := nk.seal(pt, t.name, nk2)
			clear(pt)
			if _, err := stx.ExecContext(ctx, `UPDATE `+t.name+` SET k = ?, v = ? WHERE rowid = ?`,
				nk2, v, r.rowid); err != nil {
				return fmt.Errorf("localstore: re-key %s: %w", t.name, err)
			}
			if t.name == tSeen {
				if _, err := stx.ExecContext(ctx, `UPDATE seen SET src = ? WHERE src = ?`, nk2, r.k); err != nil {
					return fmt.Errorf("localstore: re-key seen: %w", err)
				}
			}
			after = r.rowid
		}
	}
}

func readKV(ctx context.Context, stx *sql.Tx, table string, after int64) ([]kvRow, error) {
	rows, err := stx.QueryContext(ctx, `SELECT rowid, k, v FROM `+table+`
		WHERE rowid > ? ORDER BY rowid LIMIT ?`, after, rekeyBatch)
	if err != nil {
		return nil, fmt.Errorf("localstore: read %s: %w", table, err)
	}
	defer rows.Close()
	var out []kvRow
	for rows.Next() {
		var r kvRow
		if err := rows.Scan(&r.rowid, &r.k, &r.v); err != nil {
			return nil, fmt.Errorf("localstore: read %s: %w", table, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localstore: read %s: %w", table, err)
	}
	return out, nil
}

// rekeyMessages re-seals every message under nk, re-blinding its
// conversation and id; sequence numbers, and so history order, stay.
func rekeyMessages(ctx context.Context, stx *sql.Tx, old, nk *keys) error {
	for after := int64(0); ; {
		batch, err := readMessages(ctx, stx, after)
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, r := range batch {
			pt, err := old.open(r.v, tMessages, msgRowKey(r.conv, r.id, r.seq))
			if err != nil {
				return err
			}
			f, err := decodeFields(pt, 4)
			if err != nil {
				return err
			}
			conv := nk.convKey(f[0])
			id := nk.msgKey(conv, f[1])
			v := nk.seal(pt, tMessages, msgRowKey(conv, id, r.seq))
			clear(pt)
			if _, err := stx.ExecContext(ctx, `UPDATE messages SET conv = ?, id = ?, v = ? WHERE seq = ?`,
				conv, id, v, r.seq); err != nil {
				return fmt.Errorf("localstore: re-key messages: %w", err)
			}
			after = r.seq
		}
	}
}

type msgRow struct {
	seq         int64
	conv, id, v []byte
}

func readMessages(ctx context.Context, stx *sql.Tx, after int64) ([]msgRow, error) {
	rows, err := stx.QueryContext(ctx, `SELECT seq, conv, id, v FROM messages
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, rekeyBatch)
	if err != nil {
		return nil, fmt.Errorf("localstore: read messages: %w", err)
	}
	defer rows.Close()
	var out []msgRow
	for rows.Next() {
		var r msgRow
		if err := rows.Scan(&r.seq, &r.conv, &r.id, &r.v); err != nil {
			return nil, fmt.Errorf("localstore: read messages: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localstore: read messages: %w", err)
	}
	return out, nil
}
