// Package storagetest checks that a storage.Backend keeps the contract:
// every backend's tests run Run on a fresh instance.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/hush-chat/hush/internal/storage"
)

// Run runs the contract tests against backends made by open, each test
// on a new, empty one.
func Run(t *testing.T, open func(t *testing.T) storage.Backend) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, b storage.Backend)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"TablesAreSeparate", testTablesAreSeparate},
		{"ScanOrderAndBounds", testScanOrderAndBounds},
		{"ScanStopsOnError", testScanStopsOnError},
		{"UpdateErrorRollsBack", testUpdateErrorRollsBack},
		{"UpdatePanicRollsBack", testUpdatePanicRollsBack},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"ViewIsASnapshot", testViewIsASnapshot},
		{"PutCopiesItsArguments", testPutCopies},
		{"Closed", testClosed},
		{"ConcurrentUpdates", testConcurrentUpdates},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var ctx = context.Background()

func update(t *testing.T, b storage.Backend, fn func(storage.Tx) error) {
	t.Helper()
	if err := b.Update(ctx, fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func get(t *testing.T, b storage.Backend, table, key string) (string, bool) {
	t.Helper()
	var v []byte
	var ok bool
	if err := b.View(ctx, func(tx storage.Tx) (err error) {
		v, ok, err = tx.Get(table, []byte(key))
		v = bytes.Clone(v)
		return err
	}); err != nil {
		t.Fatalf("view: %v", err)
	}
	return string(v), ok
}

func testGetPutDelete(t *testing.T, b storage.Backend) {
	if _, ok := get(t, b, "t", "k"); ok {
		t.Fatal("empty backend has a row")
	}
	update(t, b, func(tx storage.Tx) error { return tx.Put("t", []byte("k"), []byte("v1")) })
	update(t, b, func(tx storage.Tx) error {
		if v, ok, err := tx.Get("t", []byte("k")); err != nil || !ok || string(v) != "v1" {
			t.Errorf("inside update: %q %v %v", v, ok, err)
		}
		return tx.Put("t", []byte("k"), []byte("v2"))
	})
	if v, ok := get(t, b, "t", "k"); !ok || v != "v2" {
		t.Fatalf("after replace: %q %v", v, ok)
	}
	update(t, b, func(tx storage.Tx) error { return tx.Put("t", []byte("empty"), nil) })
	if v, ok := get(t, b, "t", "empty"); !ok || v != "" {
		t.Fatalf("empty value: %q %v", v, ok)
	}
	update(t, b, func(tx storage.Tx) error {
		if err := tx.Delete("t", []byte("k")); err != nil {
			return err
		}
		if _, ok, err := tx.Get("t", []byte("k")); ok || err != nil {
			t.Errorf("deleted row visible in its transaction: %v %v", ok, err)
		}
		return tx.Delete("t", []byte("never there"))
	})
	if _, ok := get(t, b, "t", "k"); ok {
		t.Fatal("deleted row still there")
	}
}

func testTablesAreSeparate(t *testing.T, b storage.Backend) {
	update(t, b, func(tx storage.Tx) error {
		return errors.Join(tx.Put("a", []byte("k"), []byte("in a")), tx.Put("b", []byte("k"), []byte("in b")))
	})
	if v, _ := get(t, b, "a", "k"); v != "in a" {
		t.Fatalf("table a: %q", v)
	}
	if v, _ := get(t, b, "b", "k"); v != "in b" {
		t.Fatalf("table b: %q", v)
	}
	var n int
	b.View(ctx, func(tx storage.Tx) error {
		return tx.Scan("a", nil, nil, false, func(k, v []byte) error { n++; return nil })
	})
	if n != 1 {
		t.Fatalf("scan of a saw %d rows", n)
	}
}

func scan(t *testing.T, b storage.Backend, table string, from, to []byte, reverse bool) []string {
	t.Helper()
	var got []string
	if err := b.View(ctx, func(tx storage.Tx) error {
		return tx.Scan(table, from, to, reverse, func(k, v []byte) error {
			if !bytes.Equal(v, append([]byte("v"), k...)) {
				t.Errorf("value of %x is %q", k, v)
			}
			got = append(got, fmt.Sprintf("%x", k))
			return nil
		})
	}); err != nil {
		t.Fatalf("scan: %v", err)
	}
	return got
}

func testScanOrderAndBounds(t *testing.T, b storage.Backend) {
	// Keys that sort differently as bytes and as strings of decimal
	// numbers, with shared prefixes and 0x00/0xff bytes.
	keys := [][]byte{{0x00}, {0x00, 0x00}, {0x01}, {0x01, 0xff}, {0x02}, {0x10, 0x00}, {0x7f}, {0x80}, {0xff}, {0xff, 0xff}}
	order := rngPerm(len(keys))
	update(t, b, func(tx storage.Tx) error {
		for _, i := range order {
			if err := tx.Put("s", keys[i], append([]byte("v"), keys[i]...)); err != nil {
				return err
			}
		}
		return tx.Put("other", []byte{0x01}, []byte("x"))
	})
	hex := func(ks ...[]byte) []string {
		out := []string{}
		for _, k := range ks {
			out = append(out, fmt.Sprintf("%x", k))
		}
		return out
	}
	all := hex(keys...)
	rev := slices.Clone(all)
	slices.Reverse(rev)
	for _, tc := range []struct {
		name     string
		from, to []byte
		reverse  bool
		want     []string
	}{
		{"all", nil, nil, false, all},
		{"all reversed", nil, nil, true, rev},
		{"from inclusive", []byte{0x01}, nil, false, all[2:]},
		{"to exclusive", nil, []byte{0x02}, false, all[:4]},
		{"prefix", []byte{0x01}, storage.PrefixEnd([]byte{0x01}), false, hex(keys[2], keys[3])},
		{"prefix reversed", []byte{0x01}, storage.PrefixEnd([]byte{0x01}), true, hex(keys[3], keys[2])},
		{"prefix ff", []byte{0xff}, storage.PrefixEnd([]byte{0xff}), false, hex(keys[8], keys[9])},
		{"between keys", []byte{0x03}, []byte{0x7f}, false, hex(keys[5])},
		{"empty range", []byte{0x03}, []byte{0x03}, false, nil},
		{"reversed range", []byte{0x80}, []byte{0x01}, false, nil},
	} {
		got := scan(t, b, "s", tc.from, tc.to, tc.reverse)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := scan(t, b, "missing", nil, nil, false); len(got) != 0 {
		t.Errorf("scan of a table never written: %v", got)
	}
}

// rngPerm is a fixed shuffle of 0..n-1, so insertion order differs from
// key order.
func rngPerm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = (i*7 + 3) % n
	}
	return p
}

func testScanStopsOnError(t *testing.T, b storage.Backend) {
	update(t, b, func(tx storage.Tx) error {
		for i := range 10 {
			if err := tx.Put("s", []byte{byte(i)}, nil); err != nil {
				return err
			}
		}
		return nil
	})
	stop := errors.New("stop")
	n := 0
	err := b.View(ctx, func(tx storage.Tx) error {
		return tx.Scan("s", nil, nil, false, func(k, v []byte) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("scan after error: %d rows, %v", n, err)
	}
	// A scan that writes as it goes (the sealing layer re-keys this way).
	update(t, b, func(tx storage.Tx) error {
		return tx.Scan("s", nil, nil, false, func(k, v []byte) error {
			if k[0] < 10 {
				return tx.Put("s2", k, []byte("copied"))
			}
			return nil
		})
	})
	if v, ok := get(t, b, "s2", "\x09"); !ok || v != "copied" {
		t.Fatalf("write during scan: %q %v", v, ok)
	}
}

var errAbort = errors.New("abort")

func testUpdateErrorRollsBack(t *testing.T, b storage.Backend) {
	update(t, b, func(tx storage.Tx) error { return tx.Put("t", []byte("keep"), []byte("1")) })
	err := b.Update(ctx, func(tx storage.Tx) error {
		if err := errors.Join(tx.Put("t", []byte("new"), []byte("x")), tx.Put("u", []byte("new"), []byte("x")),
			tx.Put("t", []byte("keep"), []byte("2")), tx.Delete("t", []byte("keep"))); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	if v, ok := get(t, b, "t", "keep"); !ok || v != "1" {
		t.Fatalf("rolled-back write changed a row: %q %v", v, ok)
	}
	if _, ok := get(t, b, "t", "new"); ok {
		t.Fatal("rolled-back row exists")
	}
	if _, ok := get(t, b, "u", "new"); ok {
		t.Fatal("rolled-back row of a new table exists")
	}
}

func testUpdatePanicRollsBack(t *testing.T, b storage.Backend) {
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic swallowed")
			}
		}()
		b.Update(ctx, func(tx storage.Tx) error {
			tx.Put("t", []byte("k"), []byte("v"))
			panic("boom")
		})
	}()
	if _, ok := get(t, b, "t", "k"); ok {
		t.Fatal("write of a panicking Update stored")
	}
	update(t, b, func(tx storage.Tx) error { return tx.Put("t", []byte("k"), []byte("after")) })
	if v, _ := get(t, b, "t", "k"); v != "after" {
		t.Fatalf("backend unusable after a panic: %q", v)
	}
}

func testViewIsReadOnly(t *testing.T, b storage.Backend) {
	update(t, b, func(tx storage.Tx) error { return tx.Put("t", []byte("k"), []byte("v")) })
	b.View(ctx, func(tx storage.Tx) error {
		if err := tx.Put("t", []byte("k2"), []byte("v")); err == nil {
			t.Error("Put inside View succeeded")
		}
		if err := tx.Delete("t", []byte("k")); err == nil {
			t.Error("Delete inside View succeeded")
		}
		return nil
	})
	if _, ok := get(t, b, "t", "k2"); ok {
		t.Fatal("View wrote")
	}
	if _, ok := get(t, b, "t", "k"); !ok {
		t.Fatal("View deleted")
	}
}

// A View that began before an Update committed keeps seeing the state it
// began with, and the Update is not blocked by it.
func testViewIsASnapshot(t *testing.T, b storage.Backend) {
	update(t, b, func(tx storage.Tx) error { return tx.Put("t", []byte("k"), []byte("old")) })
	inView := make(chan struct{})
	updated := make(chan error)
	go func() {
		<-inView
		updated <- b.Update(ctx, func(tx storage.Tx) error {
			return errors.Join(tx.Put("t", []byte("k"), []byte("new")), tx.Put("t", []byte("k2"), []byte("new")))
		})
	}()
	err := b.View(ctx, func(tx storage.Tx) error {
		if v, _, err := tx.Get("t", []byte("k")); err != nil || string(v) != "old" {
			return fmt.Errorf("first read: %q %v", v, err)
		}
		close(inView)
		if err := <-updated; err != nil {
			return fmt.Errorf("update beside a view: %v", err)
		}
		v, _, err := tx.Get("t", []byte("k"))
		if err != nil || string(v) != "old" {
			return fmt.Errorf("read after a concurrent commit: %q %v, want the snapshot's", v, err)
		}
		if _, ok, _ := tx.Get("t", []byte("k2")); ok {
			return errors.New("a row committed after the view began is visible")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, b, "t", "k"); v != "new" {
		t.Fatalf("after the view: %q", v)
	}
}

func testPutCopies(t *testing.T, b storage.Backend) {
	k, v := []byte("key"), []byte("value")
	update(t, b, func(tx storage.Tx) error { return tx.Put("t", k, v) })
	k[0], v[0] = 'X', 'X'
	if got, ok := get(t, b, "t", "key"); !ok || got != "value" {
		t.Fatalf("stored row changed with the caller's slices: %q %v", got, ok)
	}
}

func testClosed(t *testing.T, b storage.Backend) {
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	nop := func(storage.Tx) error { return nil }
	if err := b.Update(ctx, nop); err == nil {
		t.Fatal("Update after Close succeeded")
	}
	if err := b.View(ctx, nop); err == nil {
		t.Fatal("View after Close succeeded")
	}
}

// Concurrent read-modify-write Updates lose no increment.
func testConcurrentUpdates(t *testing.T, b storage.Backend) {
	const workers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := b.Update(ctx, func(tx storage.Tx) error {
					v, _, err := tx.Get("t", []byte("n"))
					if err != nil {
						return err
					}
					n := 0
					if len(v) > 0 {
						n = int(v[0]) | int(v[1])<<8
					}
					n++
					return tx.Put("t", []byte("n"), []byte{byte(n), byte(n >> 8)})
				})
				if err != nil {
					errs <- err
					return
				}
				b.View(ctx, func(tx storage.Tx) error {
					_, _, err := tx.Get("t", []byte("n"))
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, _ := get(t, b, "t", "n")
	if n := int(v[0]) | int(v[1])<<8; n != workers*each {
		t.Fatalf("counter is %d, want %d", n, workers*each)
	}
}
