//go:build js || wasip1

package hush

import (
	"context"
	"errors"

	"github.com/hush-chat/hush/internal/localstore"
)

// WebAssembly has no SQLite profile: a client there keeps its profile in
// Options.Storage (MemoryStore, or the application's own).

var errNoSQLite = errors.New("this build has no profile database: set Options.Storage (hush.MemoryStore() or your own Store)")

func sqliteExists(string) bool { return false }

func openSQLite(context.Context, string, localstore.Key) (*localstore.Store, error) {
	return nil, errNoSQLite
}

func createSQLite(context.Context, string, localstore.Key) (*localstore.Store, error) {
	return nil, errNoSQLite
}

func removeSQLite(string) {}
