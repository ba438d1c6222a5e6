package localstore

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
)

var errAbort = errors.New("abort")

// writeOneOfEach writes to every table.
func writeOneOfEach(tx *Tx) error {
	if err := tx.PutSecret("seed", []byte("s")); err != nil {
		return err
	}
	if err := tx.PutContact("alice", []byte("c")); err != nil {
		return err
	}
	if err := tx.PutSession("alice", 1, []byte("st")); err != nil {
		return err
	}
	if _, err := tx.AddMessage("alice", []byte("id1"), testTime(0), []byte("m")); err != nil {
		return err
	}
	_, err := tx.MarkSeen("relay", 1)
	return err
}

// assertNothingWritten checks that none of writeOneOfEach's writes is in
// the store.
func assertNothingWritten(t *testing.T, s *Store) {
	t.Helper()
	view(t, s, func(tx *Tx) error {
		if _, err := tx.GetSecret("seed"); !errors.Is(err, ErrNotFound) {
			t.Errorf("secret survived the rollback: %v", err)
		}
		if _, err := tx.GetContact("alice"); !errors.Is(err, ErrNotFound) {
			t.Errorf("contact survived the rollback: %v", err)
		}
		if _, err := tx.GetSession("alice", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("session survived the rollback: %v", err)
		}
		if h, err := tx.History("alice", 0); err != nil || len(h) != 0 {
			t.Errorf("history after the rollback: %d records, %v", len(h), err)
		}
		return nil
	})
	update(t, s, func(tx *Tx) error {
		if already, err := tx.MarkSeen("relay", 1); err != nil || already {
			t.Errorf("seen mark survived the rollback: %v, %v", already, err)
		}
		return nil
	})
}

func TestUpdateErrorRollsBackEverything(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, _ := newStoreOn(t, kind)
		err := s.Update(context.Background(), func(tx *Tx) error {
			if err := writeOneOfEach(tx); err != nil {
				return err
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("Update returned %v, want fn's error", err)
		}
		assertNothingWritten(t, s)
	})
}

func TestUpdatePanicRollsBackAndStoreStaysUsable(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, _ := newStoreOn(t, kind)
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the panic did not propagate")
				}
			}()
			s.Update(context.Background(), func(tx *Tx) error {
				if err := writeOneOfEach(tx); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		assertNothingWritten(t, s)
		update(t, s, writeOneOfEach)
	})
}

func TestViewIsReadOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, _ := newStoreOn(t, kind)
		err := s.View(context.Background(), func(tx *Tx) error { return tx.PutSecret("a", nil) })
		if !errors.Is(err, errReadOnly) {
			t.Fatalf("PutSecret in View: %v", err)
		}
		err = s.View(context.Background(), func(tx *Tx) error {
			_, err := tx.MarkSeen("x", 1)
			return err
		})
		if !errors.Is(err, errReadOnly) {
			t.Fatalf("MarkSeen in View: %v", err)
		}
	})
}

func TestTxUnusableAfterUpdate(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, _ := newStoreOn(t, kind)
		var kept *Tx
		update(t, s, func(tx *Tx) error { kept = tx; return nil })
		if err := kept.PutSecret("late", []byte("x")); err == nil {
			t.Fatal("a Tx kept past its Update still wrote")
		}
		view(t, s, func(tx *Tx) error {
			if _, err := tx.GetSecret("late"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("late write visible: %v", err)
			}
			return nil
		})
	})
}

// Concurrent read-modify-write Updates lose no increment, and concurrent
// Views only ever see committed counter values.
func TestConcurrentUpdateView(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		s, _ := newStoreOn(t, kind)
		ctx := context.Background()
		const writers, rounds = 4, 20
		read := func(tx *Tx) (int, error) {
			v, err := tx.GetSecret("counter")
			if errors.Is(err, ErrNotFound) {
				return 0, nil
			}
			if err != nil {
				return 0, err
			}
			return strconv.Atoi(string(v))
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds*2)
		for range writers {
			wg.Go(func() {
				for range rounds {
					errs <- s.Update(ctx, func(tx *Tx) error {
						n, err := read(tx)
						if err != nil {
							return err
						}
						return tx.PutSecret("counter", []byte(strconv.Itoa(n+1)))
					})
				}
			})
			wg.Go(func() {
				last := 0
				for range rounds {
					errs <- s.View(ctx, func(tx *Tx) error {
						n, err := read(tx)
						if err != nil {
							return err
						}
						if n < last || n > writers*rounds {
							return errors.New("view saw an impossible counter")
						}
						last = n
						return nil
					})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		view(t, s, func(tx *Tx) error {
			if n, err := read(tx); err != nil || n != writers*rounds {
				t.Fatalf("counter = %d, %v; want %d", n, err, writers*rounds)
			}
			return nil
		})
	})
}
