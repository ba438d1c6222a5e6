package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/storage"
)

type tx struct {
	ctx      context.Context
	tx       *sql.Tx
	readOnly bool
	done     bool

	prepared *statements // the handle's; nil: statements are not prepared (create, upgrade)
	bound    statements  // prepared statements bound to tx, on first use
}

// stmt returns statement i bound to the transaction, or nil when the
// handle has no prepared statements.
func (t *tx) stmt(i int) *sql.Stmt {
	if t.bound[i] == nil && t.prepared != nil && t.prepared[i] != nil {
		t.bound[i] = t.tx.StmtContext(t.ctx, t.prepared[i])
	}
	return t.bound[i]
}

func (t *tx) queryRow(i int, args ...any) *sql.Row {
	if st := t.stmt(i); st != nil {
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, stmtQuery(i), args...)
}

func (t *tx) exec(i int, args ...any) error {
	var err error
	if st := t.stmt(i); st != nil {
		_, err = st.ExecContext(t.ctx, args...)
	} else {
		_, err = t.tx.ExecContext(t.ctx, stmtQuery(i), args...)
	}
	return err
}

func (t *tx) query(i int, args ...any) (*sql.Rows, error) {
	if st := t.stmt(i); st != nil {
		return st.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, stmtQuery(i), args...)
}

func (t *tx) check(write bool) error {
	if t.done {
		return storage.ErrTxDone
	}
	if write && t.readOnly {
		return storage.ErrReadOnly
	}
	return nil
}

func (t *tx) Get(table string, key []byte) ([]byte, bool, error) {
	if err := t.check(false); err != nil {
		return nil, false, err
	}
	var v []byte
	err := t.queryRow(stGet, table, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("sqlitestore: read %s: %w", table, err)
	}
	return v, true, nil
}

func (t *tx) Put(table string, key, value []byte) error {
	if err := t.check(true); err != nil {
		return err
	}
	if len(key) == 0 {
		return errors.New("sqlitestore: empty key")
	}
	if value == nil {
		value = []byte{} // NULL is not an empty value
	}
	if err := t.exec(stPut, table, key, value); err != nil {
		return fmt.Errorf("sqlitestore: write %s: %w", table, err)
	}
	return nil
}

func (t *tx) Delete(table string, key []byte) error {
	if err := t.check(true); err != nil {
		return err
	}
	if err := t.exec(stDelete, table, key); err != nil {
		return fmt.Errorf("sqlitestore: delete %s: %w", table, err)
	}
	return nil
}

// scanBatch is how many rows Scan reads per query. Rows are read a batch
// at a time and the query closed before fn runs, so fn may write.
const scanBatch = 128

type kvRow struct{ k, v []byte }

func (t *tx) Scan(table string, from, to []byte, reverse bool, fn func(k, v []byte) error) error {
	if err := t.check(false); err != nil {
		return err
	}
	for {
		batch, err := t.batch(table, from, to, reverse)
		if err != nil {
			return err
		}
		for _, r := range batch {
			if err := fn(r.k, r.v); err != nil {
				return err
			}
		}
		if len(batch) < scanBatch {
			return nil
		}
		last := batch[len(batch)-1].k
		if reverse {
			to = last
		} else {
			from = append(last, 0) // the next key after it
		}
	}
}

func (t *tx) batch(table string, from, to []byte, reverse bool) ([]kvRow, error) {
	variant := 0
	args := []any{table}
	if from != nil {
		variant |= 1
		args = append(args, from)
	}
	if to != nil {
		variant |= 2
		args = append(args, to)
	}
	if reverse {
		variant |= 4
	}
	args = append(args, scanBatch)
	rows, err := t.query(stScan+variant, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: read %s: %w", table, err)
	}
	defer rows.Close()
	var out []kvRow
	for rows.Next() {
		var r kvRow
		if err := rows.Scan(&r.k, &r.v); err != nil {
			return nil, fmt.Errorf("sqlitestore: read %s: %w", table, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: read %s: %w", table, err)
	}
	return out, nil
}
