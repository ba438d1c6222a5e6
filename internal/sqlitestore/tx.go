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

	// In a buffered transaction (Backend.run's), puts wait here and go to
	// SQLite a few dozen rows per statement (flush): before a Delete or
	// Scan, and before the commit. Get looks here first, so the
	// transaction reads what it wrote. Create and the format 1 conversion
	// mix their own SQL in: they write at once.
	buffered bool
	puts     []kvPut
	putIdx   map[tableKey]int // index in puts
	failed   error            // a flush failed: the transaction may hold part of it and must not commit
}

type kvPut struct {
	table string
	k, v  []byte
}

type tableKey struct{ table, key string }

// maxPuts bounds the puts a transaction holds before it flushes them.
const maxPuts = 1024

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
	if t.failed != nil {
		return t.failed
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
	if i, ok := t.putIdx[tableKey{table, string(key)}]; ok {
		return t.puts[i].v, true, nil
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
	v := append([]byte{}, value...) // never NULL: that is not an empty value
	if !t.buffered {
		if err := t.exec(stPut, table, key, v); err != nil {
			return fmt.Errorf("sqlitestore: write %s: %w", table, err)
		}
		return nil
	}
	tk := tableKey{table, string(key)}
	if i, ok := t.putIdx[tk]; ok {
		t.puts[i].v = v
		return nil
	}
	if t.putIdx == nil {
		t.putIdx = map[tableKey]int{}
	}
	t.putIdx[tk] = len(t.puts)
	t.puts = append(t.puts, kvPut{table, []byte(tk.key), v})
	if len(t.puts) >= maxPuts {
		return t.flush()
	}
	return nil
}

// flush stores the waiting puts, as many rows per statement as putRows
// allow. A failure sticks: every later call, and the commit, fail.
func (t *tx) flush() error {
	if t.failed != nil {
		return t.failed
	}
	puts := t.puts
	t.puts, t.putIdx = t.puts[:0], nil
	for len(puts) > 0 {
		i := len(putRows) - 1
		for i >= 0 && putRows[i] > len(puts) {
			i--
		}
		n, st := 1, stPut
		if i >= 0 {
			n, st = putRows[i], stPutMany+i
		}
		args := make([]any, 0, 3*n)
		for _, p := range puts[:n] {
			args = append(args, p.table, p.k, p.v)
		}
		if err := t.exec(st, args...); err != nil {
			t.failed = fmt.Errorf("sqlitestore: write %s: %w", puts[0].table, err)
			return t.failed
		}
		puts = puts[n:]
	}
	return nil
}

func (t *tx) Delete(table string, key []byte) error {
	if err := t.check(true); err != nil {
		return err
	}
	if err := t.flush(); err != nil {
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
	if err := t.flush(); err != nil {
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
