package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Prepared statements. Every read and write of the profile is one of a
// few statements on kv; SQLite would parse each again on every call.
// They are prepared once per database handle when it opens, and bound to
// a transaction the first time the transaction uses them (database/sql
// reuses the statement already prepared on the transaction's connection).

const (
	stGet = iota
	stPut
	stDelete
	stScan                 // + 1 with a lower bound, + 2 with an upper bound, + 4 in reverse
	stPutMany = stScan + 8 // + i: putRows[i] rows at once
	stCount   = stPutMany + len(putRows)
)

// putRows are the row counts of the multi-row puts, largest last. A
// transaction's buffered puts go out in as few statements as these make.
var putRows = [...]int{4, 16, 64}

// putManyQuery is the query storing n rows at once.
func putManyQuery(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO kv (t, k, v) VALUES (?, ?, ?)`)
	for range n - 1 {
		b.WriteString(`, (?, ?, ?)`)
	}
	b.WriteString(` ON CONFLICT (t, k) DO UPDATE SET v = excluded.v`)
	return b.String()
}

// scanQuery is the query of statement stScan+variant.
func scanQuery(variant int) string {
	q := `SELECT k, v FROM kv WHERE t = ?`
	if variant&1 != 0 {
		q += ` AND k >= ?`
	}
	if variant&2 != 0 {
		q += ` AND k < ?`
	}
	if variant&4 != 0 {
		q += ` ORDER BY k DESC`
	} else {
		q += ` ORDER BY k`
	}
	return q + ` LIMIT ?`
}

func stmtQuery(i int) string {
	switch i {
	case stGet:
		return `SELECT v FROM kv WHERE t = ? AND k = ?`
	case stPut:
		return `INSERT INTO kv (t, k, v) VALUES (?, ?, ?) ON CONFLICT (t, k) DO UPDATE SET v = excluded.v`
	case stDelete:
		return `DELETE FROM kv WHERE t = ? AND k = ?`
	}
	if i >= stPutMany {
		return putManyQuery(putRows[i-stPutMany])
	}
	return scanQuery(i - stScan)
}

// statements are a database handle's prepared statements, indexed by st*.
type statements [stCount]*sql.Stmt

// prepare prepares every statement on db; a read-only handle gets only
// the reading ones. On failure it returns nil and the error.
func prepare(ctx context.Context, db *sql.DB, readOnly bool) (*statements, error) {
	var s statements
	for i := range s {
		if readOnly && (i == stPut || i == stDelete || i >= stPutMany) {
			continue
		}
		st, err := db.PrepareContext(ctx, stmtQuery(i))
		if err != nil {
			_ = s.close()
			return nil, fmt.Errorf("sqlitestore: prepare: %w", err)
		}
		s[i] = st
	}
	return &s, nil
}

func (s *statements) close() error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, st := range s {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
