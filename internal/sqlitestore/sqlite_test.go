package sqlitestore

import (
	"context"
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
