package sqlitestore

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"testing"

	"github.com/hush-chat/hush/internal/storage"
	"github.com/hush-chat/hush/internal/storage/storagetest"
)

func TestSQLiteContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b, err := Create(context.Background(), filepath.Join(t.TempDir(), "p"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// A scan longer than one batch sees every row once, in order, both ways.
func TestScanAcrossBatches(t *testing.T) {
	b, err := Create(context.Background(), filepath.Join(t.TempDir(), "p"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const n = 3*scanBatch + 7
	ctx := context.Background()
	if err := b.Update(ctx, func(tx storage.Tx) error {
		for i := range n {
			if err := tx.Put("t", []byte{byte(i >> 8), byte(i)}, nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, reverse := range []bool{false, true} {
		var got []int
		b.View(ctx, func(tx storage.Tx) error {
			return tx.Scan("t", nil, nil, reverse, func(k, v []byte) error {
				got = append(got, int(k[0])<<8|int(k[1]))
				return nil
			})
		})
		if len(got) != n {
			t.Fatalf("reverse=%v: %d rows, want %d", reverse, len(got), n)
		}
		for i, v := range got {
			want := i
			if reverse {
				want = n - 1 - i
			}
			if v != want {
				t.Fatalf("reverse=%v: row %d is %d", reverse, i, v)
			}
		}
	}
}

// Puts wait in the transaction and go out many rows per statement: the
// transaction still reads what it wrote (Get, Scan), a later put of the
// same key wins, a delete after a put deletes, and what commits is
// exactly what the transaction last wrote, past several flushes.
func TestBufferedPutsReadBackAndCommit(t *testing.T) {
	b, err := Create(context.Background(), filepath.Join(t.TempDir(), "p"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	const n = 2*maxPuts + 37
	key := func(i int) []byte { return []byte{byte(i >> 8), byte(i)} }
	want := map[string]string{}
	err = b.Update(ctx, func(tx storage.Tx) error {
		for i := range n {
			v := fmt.Sprint("v", i)
			if err := tx.Put("t", key(i), []byte(v)); err != nil {
				return err
			}
			want[string(key(i))] = v
			if i%7 == 0 { // written twice: the second value counts
				if err := tx.Put("t", key(i), []byte(v+"'")); err != nil {
					return err
				}
				want[string(key(i))] = v + "'"
			}
			if i%11 == 0 {
				if err := tx.Delete("t", key(i)); err != nil {
					return err
				}
				delete(want, string(key(i)))
			}
			if err := tx.Put("u", key(i), nil); err != nil { // another table, an empty value
				return err
			}
		}
		for _, i := range []int{1, 7, 11, n - 1} {
			v, ok, err := tx.Get("t", key(i))
			if w, in := want[string(key(i))]; err != nil || ok != in || string(v) != w {
				t.Errorf("in the transaction, key %d: %q %v %v, want %q", i, v, ok, err, w)
			}
		}
		rows := 0
		if err := tx.Scan("t", nil, nil, false, func(k, v []byte) error { rows++; return nil }); err != nil {
			return err
		}
		if rows != len(want) {
			t.Errorf("a scan in the transaction sees %d rows, want %d", rows, len(want))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	empty := 0
	b.View(ctx, func(tx storage.Tx) error {
		if err := tx.Scan("t", nil, nil, false, func(k, v []byte) error { got[string(k)] = string(v); return nil }); err != nil {
			return err
		}
		return tx.Scan("u", nil, nil, false, func(k, v []byte) error {
			if len(v) == 0 {
				empty++
			}
			return nil
		})
	})
	if !maps.Equal(got, want) {
		t.Fatalf("committed %d rows, want %d", len(got), len(want))
	}
	if empty != n {
		t.Fatalf("%d empty values in u, want %d", empty, n)
	}
}

// A flush that fails (here: the context ends) fails the transaction even
// when fn goes on and returns nil: nothing of it is stored.
func TestFailedFlushFailsTheTransaction(t *testing.T) {
	b, err := Create(context.Background(), filepath.Join(t.TempDir(), "p"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	err = b.Update(ctx, func(tx storage.Tx) error {
		for i := range 10 {
			if err := tx.Put("t", []byte{byte(i)}, []byte("v")); err != nil {
				return err
			}
		}
		cancel()
		if err := tx.Scan("t", nil, nil, false, func(k, v []byte) error { return nil }); err == nil {
			t.Error("a scan flushing into an ended context succeeded")
		}
		if err := tx.Put("t", []byte{99}, []byte("v")); err == nil {
			t.Error("a put after a failed flush succeeded")
		}
		return nil // ignoring what failed
	})
	if err == nil {
		t.Fatal("Update succeeded after a failed flush")
	}
	b.View(context.Background(), func(tx storage.Tx) error {
		return tx.Scan("t", nil, nil, false, func(k, v []byte) error {
			t.Errorf("row %x stored", k)
			return nil
		})
	})
}
