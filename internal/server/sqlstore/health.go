package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// failureWindow is how long a write the store could not take keeps Probe
// failing, though the probe's own small write succeeds: a disk with room
// for a health row but not for an envelope is not healthy.
const failureWindow = 5 * time.Second

// probePad is the size of the row a probe writes and rolls back: two
// SQLite pages, so the probe needs free space as a real write does.
const probePad = 8 << 10

// Probe proves that the store can take writes now: it commits an update
// of one health row (which a full disk, a read-only or closed database or
// a lost connection refuses) after writing, and rolling back, a row of a
// few pages (which a database at its size limit refuses). It also fails,
// with that failure, while a real write failed as unavailable in the last
// failureWindow. A failure is a *store.UnavailableError when its cause is
// one.
func (db *DB) Probe(ctx context.Context) error {
	if err := db.probe(ctx); err != nil {
		return err
	}
	return db.failed.recent(time.Now())
}

func (db *DB) probe(ctx context.Context) error {
	err := db.write(ctx, func(t tx) error {
		if db.dialect == DialectSQLite {
			if _, err := t.exec(ctx, "SAVEPOINT probe"); err != nil {
				return err
			}
			if _, err := t.exec(ctx, "INSERT INTO health (id, checked_at, pad) VALUES (2, 0, zeroblob(?))", probePad); err != nil {
				return err
			}
			if _, err := t.exec(ctx, "ROLLBACK TO probe"); err != nil {
				return err
			}
		}
		_, err := t.exec(ctx, "INSERT INTO health (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
			db.now().UnixMilli())
		return err
	})
	return dbErr("health probe", err)
}

// lastFailure remembers the last write that failed as unavailable. Safe
// for concurrent use.
type lastFailure struct {
	mu  sync.Mutex
	at  time.Time // guarded by mu
	err error     // guarded by mu
}

// note records err if it says the store is unavailable.
func (f *lastFailure) note(err error) {
	if err == nil || unavailableReason(err) == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at, f.err = time.Now(), err
}

// recent returns the failure noted in the failureWindow before now, if
// any.
func (f *lastFailure) recent(now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil || now.Sub(f.at) >= failureWindow {
		return nil
	}
	return markUnavailable(fmt.Errorf("sqlstore: a write failed %s ago: %w", now.Sub(f.at).Round(time.Millisecond), f.err))
}
