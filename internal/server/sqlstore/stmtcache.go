package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the read statements kept prepared. Queries with a
// variable number of placeholders (IN lists) have many texts; once the
// cache is full, further texts are prepared per call as before.
const maxCachedStmts = 256

// stmtCache keeps read statements prepared: parsing and planning a query
// costs about as much as running a point lookup, and lookups are the
// directory's hot path. database/sql prepares each statement once per
// pooled connection and reuses it.
type stmtCache struct {
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

// get returns the prepared statement for query, or nil to run it unprepared.
func (c *stmtCache) get(ctx context.Context, db *DB, query string) *sql.Stmt {
	c.mu.RLock()
	st := c.m[query]
	n := len(c.m)
	c.mu.RUnlock()
	if st != nil || n >= maxCachedStmts {
		return st
	}
	st, err := db.r.PrepareContext(ctx, db.q(query))
	if err != nil {
		return nil // the unprepared path reports the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	if old := c.m[query]; old != nil {
		st.Close()
		return old
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}
