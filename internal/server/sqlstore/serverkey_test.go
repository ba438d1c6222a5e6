package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

func TestSQLiteServerKey(t *testing.T) {
	testServerKey(t, func(t *testing.T) *DB { return openSQLite(t) })
}

func TestPostgresServerKey(t *testing.T) {
	if os.Getenv("HUSH_TEST_POSTGRES") == "" {
		t.Skip("HUSH_TEST_POSTGRES not set")
	}
	testServerKey(t, func(t *testing.T) *DB { return openPostgres(t) })
}

// Servers claiming the deployment's key at once record exactly one, and
// all of them read that one back; SetServerKey replaces it.
func testServerKey(t *testing.T, open func(t *testing.T) *DB) {
	ctx := context.Background()
	db := open(t)
	if k, err := db.ServerKey(ctx); err != nil || k != nil {
		t.Fatalf("a new database records %x, %v", k, err)
	}
	const n = 8
	got := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec, _, err := db.ClaimServerKey(ctx, []byte(fmt.Sprintf("key-%d", i)), false)
			if err != nil {
				t.Error(err)
			}
			got[i] = rec
		})
	}
	wg.Wait()
	winner, err := db.ServerKey(ctx)
	if err != nil || winner == nil {
		t.Fatalf("recorded %q, %v", winner, err)
	}
	for i, g := range got {
		if !bytes.Equal(g, winner) {
			t.Fatalf("claim %d read back %q, the record is %q", i, g, winner)
		}
	}
	old, err := db.SetServerKey(ctx, []byte("rotated"))
	if err != nil || !bytes.Equal(old, winner) {
		t.Fatalf("rotation replaced %q, %v", old, err)
	}
	if rec, _, err := db.ClaimServerKey(ctx, []byte("key-0"), true); err != nil || string(rec) != "rotated" {
		t.Fatalf("claim after rotation: %q, %v", rec, err)
	}
}
