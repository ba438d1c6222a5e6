package localstore

import (
	"context"
	"database/sql"
	"fmt"
)

// The outbox holds what the client encrypted but the relay has not yet
// accepted. Rows are ordered by a local sequence number (the order in
// which they were queued); the sealed value's associated data is the
// table name and that number, so a row moved to another place fails to
// open.

const tOutbox = "outbox"

// outboxSchema is created by new profiles and added to older ones when
// they are opened.
const outboxSchema = `CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, v BLOB NOT NULL);`

// upgradeSchema adds what older profiles lack: the outbox, and the
// messages' "not yet shown" mark.
func upgradeSchema(ctx context.Context, w *sql.DB) error {
	if _, err := w.ExecContext(ctx, outboxSchema); err != nil {
		return fmt.Errorf("localstore: upgrade schema: %w", err)
	}
	var n int
	if err := w.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'unshown'`).Scan(&n); err != nil {
		return fmt.Errorf("localstore: upgrade schema: %w", err)
	}
	if n == 0 {
		if _, err := w.ExecContext(ctx, `ALTER TABLE messages ADD COLUMN unshown INTEGER NOT NULL DEFAULT 0;
			CREATE INDEX IF NOT EXISTS messages_unshown ON messages (seq) WHERE unshown = 1;`); err != nil {
			return fmt.Errorf("localstore: upgrade schema: %w", err)
		}
	}
	return nil
}

// OutboxRow is one queued record.
type OutboxRow struct {
	Seq    int64
	Record []byte
}

// AddOutbox queues record after everything queued so far and returns its
// sequence number.
func (tx *Tx) AddOutbox(record []byte) (int64, error) {
	if err := tx.writable(); err != nil {
		return 0, err
	}
	var seq int64
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT coalesce(max(seq), 0) + 1 FROM outbox`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("localstore: read outbox: %w", err)
	}
	v := tx.k.seal(record, tOutbox, be64(uint64(seq)))
	if _, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO outbox (seq, v) VALUES (?, ?)`, seq, v); err != nil {
		return 0, fmt.Errorf("localstore: write outbox: %w", err)
	}
	return seq, nil
}

// PutOutbox replaces the record queued under seq. ErrNotFound if it is
// no longer queued.
func (tx *Tx) PutOutbox(seq int64, record []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	v := tx.k.seal(record, tOutbox, be64(uint64(seq)))
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE outbox SET v = ? WHERE seq = ?`, v, seq)
	if err != nil {
		return fmt.Errorf("localstore: write outbox: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteOutbox removes the record queued under seq (its bytes are zeroed
// in the file). Deleting what is not there is not an error.
func (tx *Tx) DeleteOutbox(seq int64) error {
	if err := tx.writable(); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM outbox WHERE seq = ?`, seq); err != nil {
		return fmt.Errorf("localstore: delete outbox: %w", err)
	}
	return nil
}

// Outbox returns every queued record, oldest first.
func (tx *Tx) Outbox() ([]OutboxRow, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT seq, v FROM outbox ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("localstore: read outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		var r OutboxRow
		var v []byte
		if err := rows.Scan(&r.Seq, &v); err != nil {
			return nil, fmt.Errorf("localstore: read outbox: %w", err)
		}
		if r.Record, err = tx.k.open(v, tOutbox, be64(uint64(r.Seq))); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localstore: read outbox: %w", err)
	}
	return out, nil
}

// rekeyOutbox re-seals every queued record under nk.
func rekeyOutbox(ctx context.Context, stx *sql.Tx, old, nk *keys) error {
	rows, err := stx.QueryContext(ctx, `SELECT seq, v FROM outbox ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("localstore: read outbox: %w", err)
	}
	type row struct {
		seq int64
		v   []byte
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.v); err != nil {
			rows.Close()
			return fmt.Errorf("localstore: read outbox: %w", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("localstore: read outbox: %w", err)
	}
	for _, r := range all {
		rk := be64(uint64(r.seq))
		pt, err := old.open(r.v, tOutbox, rk)
		if err != nil {
			return err
		}
		v := nk.seal(pt, tOutbox, rk)
		clear(pt)
		if _, err := stx.ExecContext(ctx, `UPDATE outbox SET v = ? WHERE seq = ?`, v, r.seq); err != nil {
			return fmt.Errorf("localstore: re-key outbox: %w", err)
		}
	}
	return nil
}
