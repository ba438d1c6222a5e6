//go:build !js && !wasip1

package hush

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/sqlitestore"
)

// The encrypted SQLite profile in a directory, what Options.Home means
// when Options.Storage is nil. Not in the WebAssembly build, which has
// no SQLite: there a client needs Options.Storage.

func sqliteExists(home string) bool { return sqlitestore.Exists(home) }

func openSQLite(ctx context.Context, home string, key localstore.Key) (*localstore.Store, error) {
	b, err := sqlitestore.Open(ctx, home)
	if errors.Is(err, sqlitestore.ErrNoProfile) {
		return nil, ErrNoProfile
	}
	if err != nil {
		return nil, err
	}
	st, err := localstore.Open(ctx, b, key)
	if err != nil {
		b.Close()
		return nil, storeErr(err)
	}
	return st, nil
}

func createSQLite(ctx context.Context, home string, key localstore.Key) (*localstore.Store, error) {
	p, err := localstore.Prepare(key)
	if err != nil {
		return nil, err
	}
	b, err := sqlitestore.Create(ctx, home, p.Init)
	if err != nil {
		p.Wipe()
		if errors.Is(err, sqlitestore.ErrExists) {
			return nil, ErrProfileExists
		}
		return nil, err
	}
	return p.Open(b), nil
}

// removeSQLite deletes a profile database that never got registered.
func removeSQLite(home string) {
	for _, f := range []string{sqlitestore.FileName, sqlitestore.FileName + "-wal", sqlitestore.FileName + "-shm"} {
		os.Remove(filepath.Join(home, f))
	}
}
