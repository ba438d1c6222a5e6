package localstore

import (
	"database/sql"
	"errors"
	"fmt"
)

// MarkSeen records that relay sequence number seq of source (a relay
// mailbox, a broker topic: any name) was processed, and reports whether it
// already was. It keeps the newest 100,000 numbers of each source; a
// number older than all of those counts as unseen again, so callers still
// dedupe messages by id (AddMessage). The source name is stored blinded;
// the numbers are stored in the clear.
func (tx *Tx) MarkSeen(source string, seq int64) (already bool, err error) {
	if err := tx.writable(); err != nil {
		return false, err
	}
	src := tx.k.blind(tSeen, []byte(source))
	res, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO seen (src, seq) VALUES (?, ?)
		ON CONFLICT DO NOTHING`, src, seq)
	if err != nil {
		return false, fmt.Errorf("localstore: write seen: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("localstore: write seen: %w", err)
	} else if n == 0 {
		return true, nil
	}
	n, err := tx.countSeen(src, source)
	if err != nil {
		return false, err
	}
	// Prune in steps of keepSeen/64 rows: finding the cut-off walks
	// keepSeen index entries, too slow to do for every message.
	if n > int64(tx.keepSeen+tx.keepSeen/64) {
		if err := tx.pruneSeen(src); err != nil {
			return false, err
		}
	}
	return false, nil
}

// countSeen adds one to the count of numbers stored for src and returns
// it, registering the source (its name sealed, for ChangePassphrase) the
// first time.
func (tx *Tx) countSeen(src []byte, source string) (int64, error) {
	var n int64
	err := tx.tx.QueryRowContext(tx.ctx, `UPDATE seen_sources SET n = n + 1 WHERE k = ?
		RETURNING n`, src).Scan(&n)
	if err == nil {
		return n, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("localstore: write seen: %w", err)
	}
	v := tx.k.seal(encodeFields([]byte(source)), tSeen, src)
	if _, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO seen_sources (k, n, v) VALUES (?, 1, ?)`,
		src, v); err != nil {
		return 0, fmt.Errorf("localstore: write seen: %w", err)
	}
	return 1, nil
}

// pruneSeen keeps the newest keepSeen numbers of src.
func (tx *Tx) pruneSeen(src []byte) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM seen WHERE src = ? AND seq <
		(SELECT seq FROM seen WHERE src = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
		src, src, tx.keepSeen-1); err != nil {
		return fmt.Errorf("localstore: prune seen: %w", err)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE seen_sources SET n = ? WHERE k = ?`,
		tx.keepSeen, src); err != nil {
		return fmt.Errorf("localstore: prune seen: %w", err)
	}
	return nil
}
