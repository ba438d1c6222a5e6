package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxWriteStmts bounds the write statements kept prepared. Statements
// whose text changes with a batch's size have a text per size; once the
// cache is full, further texts are prepared per call as before.
const maxWriteStmts = 128

// writeStmts keeps the hot statements of appends and acknowledgements
// prepared on SQLite's single writer connection: parsing a statement
// costs about as much as running it, and an acknowledgement runs several
// per envelope. PostgreSQL needs none: pgx keeps prepared statements per
// connection by itself.
//
// A statement cannot be prepared on the writer connection while a
// transaction holds it: one not yet prepared runs unprepared and is
// prepared before the next write transaction begins.
type writeStmts struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	wanted map[string]bool // run unprepared; to prepare before the next write
}

// prepared returns query prepared for t's connection, or nil to run it
// unprepared.
func (t tx) prepared(ctx context.Context, query string) *sql.Stmt {
	if t.db.dialect != DialectSQLite {
		return nil
	}
	c := &t.db.wstmts
	c.mu.Lock()
	st := c.m[query]
	if st == nil && len(c.m)+len(c.wanted) < maxWriteStmts {
		if c.wanted == nil {
			c.wanted = make(map[string]bool)
		}
		c.wanted[query] = true
	}
	c.mu.Unlock()
	if st == nil {
		return nil
	}
	// Prepared on the writer connection, which t holds: not prepared
	// again.
	return t.tx.StmtContext(ctx, st)
}

// prepareWanted prepares the statements that ran unprepared. It runs
// outside any transaction (it needs the writer connection) and holds no
// lock while it waits for the connection.
func (c *writeStmts) prepareWanted(ctx context.Context, w *sql.DB) {
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	queries := make([]string, 0, len(c.wanted))
	for q := range c.wanted {
		queries = append(queries, q)
	}
	c.wanted = nil
	c.mu.Unlock()
	for _, q := range queries {
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			continue // it runs unprepared, and reports its error there
		}
		c.mu.Lock()
		if c.m == nil {
			c.m = make(map[string]*sql.Stmt)
		}
		if c.m[q] == nil {
			c.m[q] = st
			st = nil
		}
		c.mu.Unlock()
		if st != nil {
			st.Close() // prepared meanwhile by another writer
		}
	}
}

// execP is exec through a kept prepared statement.
func (t tx) execP(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.exec(ctx, query, args...)
}

// queryP is query through a kept prepared statement.
func (t tx) queryP(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.query(ctx, query, args...)
}

func (c *writeStmts) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}
