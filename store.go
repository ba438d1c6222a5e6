package hush

import (
	"context"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/storage"
)

// Store is where a client keeps its profile when it is not the encrypted
// SQLite database in Options.Home: MemoryStore, or an application's own
// database. A Store holds named tables of byte keys and values, ordered
// by key (bytes.Compare); the client seals everything before it gets
// there, so a Store sees blinded keys, sequence numbers and ciphertexts,
// never a username, a message or a key, and one plaintext record that
// says how to derive the key.
//
// View runs fn on a consistent, read-only snapshot. Update runs fn in one
// transaction: when it returns nil, everything fn wrote is stored
// together and must survive a crash of the process (the client
// acknowledges a message to the server only after the Update that stored
// it returned nil); when it returns an error or fn panics, nothing fn
// wrote is stored. Updates run one at a time. A Store is safe for
// concurrent use; Close releases it, and the Client does not call it on a
// Store passed in Options.
type Store interface {
	View(ctx context.Context, fn func(tx StoreTx) error) error
	Update(ctx context.Context, fn func(tx StoreTx) error) error
	Close() error
}

// StoreTx reads and writes a Store inside View or Update. It is valid
// only inside the fn it was given to. Slices it returns are valid until
// the transaction ends and must not be modified; slices passed to Put
// must be copied if they are kept.
type StoreTx interface {
	// Get returns the value under key in table, and whether there is one.
	Get(table string, key []byte) (value []byte, ok bool, err error)
	// Put stores value (possibly empty) under key (never empty) in table,
	// replacing what was there.
	Put(table string, key, value []byte) error
	// Delete removes key from table; deleting what is not there is not an
	// error.
	Delete(table string, key []byte) error
	// Scan calls fn for each row of table with from <= key < to (nil: no
	// bound), in ascending key order or descending if reverse is set,
	// stopping at and returning fn's first error. fn may write to the
	// transaction; whether the scan then visits rows it wrote is not
	// defined.
	Scan(table string, from, to []byte, reverse bool, fn func(key, value []byte) error) error
}

// MemoryStore returns an empty Store that keeps everything in memory:
// for tests, short-lived bots and WebAssembly. Nothing in it survives the
// process, so a client on it has a new identity each time it starts and
// loses what it received if it dies.
func MemoryStore() Store { return wrapBackend{storage.Memory()} }

// wrapBackend shows an internal backend as a Store.
type wrapBackend struct{ b storage.Backend }

func (w wrapBackend) View(ctx context.Context, fn func(StoreTx) error) error {
	return w.b.View(ctx, func(tx storage.Tx) error { return fn(tx) })
}

func (w wrapBackend) Update(ctx context.Context, fn func(StoreTx) error) error {
	return w.b.Update(ctx, func(tx storage.Tx) error { return fn(tx) })
}

func (w wrapBackend) Close() error { return w.b.Close() }

// storeBackend shows an application's Store as an internal backend.
type storeBackend struct{ s Store }

func (a storeBackend) View(ctx context.Context, fn func(storage.Tx) error) error {
	return a.s.View(ctx, func(tx StoreTx) error { return fn(tx) })
}

func (a storeBackend) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return a.s.Update(ctx, func(tx StoreTx) error { return fn(tx) })
}

func (a storeBackend) Close() error { return a.s.Close() }

func backendOf(s Store) storage.Backend {
	if w, ok := s.(wrapBackend); ok {
		return w.b
	}
	return storeBackend{s}
}

// profileKey is what unlocks the profile: Options.Key or Options.Passphrase.
func profileKey(o *Options) (localstore.Key, error) {
	switch {
	case o.Key != nil && len(o.Passphrase) != 0:
		return localstore.Key{}, errors.New("both a passphrase and a key were given: use one")
	case o.Key != nil:
		if len(o.Key) != 32 {
			return localstore.Key{}, fmt.Errorf("the profile key is %d bytes: it must be 32 random bytes", len(o.Key))
		}
		return localstore.AppKey(o.Key), nil
	case len(o.Passphrase) == 0:
		return localstore.Key{}, ErrEmptyPassphrase
	}
	return localstore.Passphrase(o.Passphrase), nil
}

// openStore unlocks the profile in o.Storage, or in the SQLite database
// at o.Home.
func openStore(ctx context.Context, o Options) (*localstore.Store, error) {
	key, err := profileKey(&o)
	if err != nil {
		return nil, err
	}
	if o.Storage == nil {
		return openSQLite(ctx, o.Home, key)
	}
	st, err := localstore.Open(ctx, backendOf(o.Storage), key)
	if err != nil {
		return nil, storeErr(err)
	}
	st.KeepBackendOpen()
	return st, nil
}

// createStore makes a new profile in o.Storage, or in the SQLite
// database at o.Home.
func createStore(ctx context.Context, o Options) (*localstore.Store, error) {
	key, err := profileKey(&o)
	if err != nil {
		return nil, err
	}
	if o.Storage == nil {
		return createSQLite(ctx, o.Home, key)
	}
	st, err := localstore.Create(ctx, backendOf(o.Storage), key)
	if err != nil {
		return nil, storeErr(err)
	}
	st.KeepBackendOpen()
	return st, nil
}

// storeErr names the store's refusals with the package's errors.
func storeErr(err error) error {
	switch {
	case errors.Is(err, localstore.ErrNoProfile):
		return ErrNoProfile
	case errors.Is(err, localstore.ErrWrongPassphrase):
		return ErrWrongPassphrase
	case errors.Is(err, localstore.ErrExists):
		return ErrProfileExists
	case errors.Is(err, localstore.ErrKeyKind):
		return errors.New("the profile is locked by a passphrase and a key was given, or the other way round: give the one it was created with")
	}
	return err
}
