package sqlstore

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

func testBackups(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")

	// The first secret stored wins; later calls read it back.
	first, err := f.db.BackupSecret(f.ctx, bytes.Repeat([]byte{1}, 32))
	f.must(err)
	again, err := f.db.BackupSecret(f.ctx, bytes.Repeat([]byte{2}, 32))
	f.must(err)
	if !bytes.Equal(first, bytes.Repeat([]byte{1}, 32)) || !bytes.Equal(again, first) {
		t.Fatalf("BackupSecret = %x then %x, want the first value both times", first, again)
	}

	_, err = f.db.GetBackup(f.ctx, "alice")
	wantErr(t, "GetBackup before any", err, store.ErrNotFound)
	wantErr(t, "PutBackup of a missing account", f.db.PutBackup(f.ctx, "nobody", []byte("x"), time.Now()), store.ErrNotFound)
	f.must(f.db.PutBackup(f.ctx, "alice", []byte("one"), time.Now()))
	f.must(f.db.PutBackup(f.ctx, "alice", []byte("two"), time.Now()))
	if b, err := f.db.GetBackup(f.ctx, "alice"); err != nil || string(b) != "two" {
		t.Fatalf("GetBackup = %q, %v; want the newest", b, err)
	}

	// Evaluations: max per window, refused beyond, a new window after it.
	now := time.UnixMilli(time.Now().UnixMilli())
	for i := 1; i <= 3; i++ {
		c, err := f.db.CountBackupEvaluation(f.ctx, "alice", now.Add(time.Duration(i)*time.Minute), time.Hour, 3)
		if err != nil || c.Used != i || !c.WindowStart.Equal(now.Add(time.Minute)) {
			t.Fatalf("evaluation %d: %+v, %v", i, c, err)
		}
	}
	c, err := f.db.CountBackupEvaluation(f.ctx, "alice", now.Add(30*time.Minute), time.Hour, 3)
	wantErr(t, "a fourth evaluation in the window", err, store.ErrLimit)
	if c.Used != 3 || !c.WindowStart.Equal(now.Add(time.Minute)) {
		t.Fatalf("refused evaluation reports %+v", c)
	}
	if c, err := f.db.CountBackupEvaluation(f.ctx, "alice", now.Add(61*time.Minute), time.Hour, 3); err != nil || c.Used != 1 {
		t.Fatalf("evaluation after the window: %+v, %v", c, err)
	}
	f.must(f.db.ResetBackupEvaluations(f.ctx, "alice"))
	if c, err := f.db.CountBackupEvaluation(f.ctx, "alice", now.Add(62*time.Minute), time.Hour, 3); err != nil || c.Used != 1 {
		t.Fatalf("evaluation after a reset: %+v, %v", c, err)
	}
	_, err = f.db.CountBackupEvaluation(f.ctx, "nobody", now, time.Hour, 3)
	wantErr(t, "evaluation of a missing account", err, store.ErrNotFound)

	// Deleting the account drops its backup and its count.
	f.must(f.db.DeleteAccount(f.ctx, "alice"))
	_, err = f.db.GetBackup(f.ctx, "alice")
	wantErr(t, "GetBackup after DeleteAccount", err, store.ErrNotFound)
	_, err = f.db.CountBackupEvaluation(f.ctx, "alice", now, time.Hour, 3)
	wantErr(t, "evaluation of a tombstone", err, store.ErrNotFound)
}

// testBackupEvaluationsConcurrent: concurrent evaluations never exceed the
// limit (the check and the count are one transaction).
func testBackupEvaluationsConcurrent(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, limited := 0, 0
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.db.CountBackupEvaluation(f.ctx, "alice", now, time.Hour, 5)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrLimit):
				limited++
			default:
				t.Errorf("CountBackupEvaluation: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 5 || limited != 7 {
		t.Fatalf("%d counted and %d refused, want 5 and 7", ok, limited)
	}
}
