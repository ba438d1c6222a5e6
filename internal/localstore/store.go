package localstore

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/hush-chat/hush/internal/storage"
)

// formatVersion is the Meta.Version this package writes and reads: the
// layout of tables described in the package documentation. (Version 1
// was the SQLite-only schema; internal/sqlitestore converts it.)
const formatVersion = 2

// Store is an open, unlocked profile. It is safe for concurrent use.
type Store struct {
	b storage.Backend

	// mu guards k: transactions hold it for reading, so Close and
	// ChangePassphrase wait for them to end before they swap or wipe keys.
	mu sync.RWMutex
	k  *keys // nil once closed

	kdf      Params // for ChangePassphrase; DefaultParams
	keepSeen int    // MarkSeen keeps this many sequence numbers per source
	keepOpen bool   // Close leaves the backend open (the application owns it)
}

// defaultKeepSeen is how many relay sequence numbers MarkSeen remembers
// per source.
const defaultKeepSeen = 100_000

// Pending is a new profile's keys and meta record, derived before the
// backend that will hold it exists (the SQLite backend writes the record
// in the same transaction that creates its file).
type Pending struct {
	k *keys
	m *storage.Meta
}

// Prepare derives the keys of a new profile locked by key. It costs one
// Argon2id for a passphrase.
func Prepare(key Key) (*Pending, error) {
	k, m, err := newKeys(key)
	if err != nil {
		return nil, err
	}
	return &Pending{k: k, m: m}, nil
}

// Init writes the profile's meta record into tx, failing with ErrExists if
// there is one already.
func (p *Pending) Init(tx storage.Tx) error {
	if _, ok, err := storage.ReadMeta(tx); ok {
		return ErrExists
	} else if err != nil && err != storage.ErrBadMeta {
		return fmt.Errorf("localstore: read metadata: %w", err)
	} else if err != nil {
		return ErrExists // a record is there, if unreadable
	}
	return storage.WriteMeta(tx, p.m)
}

// Open returns the Store of the profile Init wrote into b.
func (p *Pending) Open(b storage.Backend) *Store {
	return newStoreOf(b, p.k)
}

// Wipe forgets the keys of a profile that was not created after all.
func (p *Pending) Wipe() { p.k.wipe() }

// Create makes a new profile in b, which must hold none (ErrExists), and
// opens it.
func Create(ctx context.Context, b storage.Backend, key Key) (*Store, error) {
	p, err := Prepare(key)
	if err != nil {
		return nil, err
	}
	if err := b.Update(ctx, p.Init); err != nil {
		p.Wipe()
		return nil, err
	}
	return p.Open(b), nil
}

// Open unlocks the profile in b. It fails with ErrNoProfile if there is
// none and ErrWrongPassphrase if key does not unlock it; a refused Open
// writes nothing.
func Open(ctx context.Context, b storage.Backend, key Key) (*Store, error) {
	var m *storage.Meta
	err := b.View(ctx, func(tx storage.Tx) error {
		var ok bool
		var err error
		m, ok, err = storage.ReadMeta(tx)
		if err == storage.ErrBadMeta {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if err == nil && !ok {
			return ErrNoProfile
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	k, err := unlock(key, m)
	if err != nil {
		return nil, err
	}
	return newStoreOf(b, k), nil
}

func newStoreOf(b storage.Backend, k *keys) *Store {
	return &Store{b: b, k: k, kdf: DefaultParams, keepSeen: defaultKeepSeen}
}

// KeepBackendOpen makes Close leave the backend open: the application
// that passed it in closes it.
func (s *Store) KeepBackendOpen() { s.keepOpen = true }

// Close wipes the keys and closes the backend, waiting for transactions
// in progress. Closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.k == nil {
		return nil
	}
	s.k.wipe()
	s.k = nil
	if s.keepOpen {
		return nil
	}
	return s.b.Close()
}

// Update runs fn in one write transaction: everything fn writes commits
// together, durably if the backend is durable, when fn returns nil, and
// nothing does if fn returns an error or panics (the panic continues
// after the rollback). Writers are serialized, so fn may read, then write
// what it read.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return s.run(ctx, false, fn)
}

// View runs fn in a read-only transaction: it sees one consistent
// snapshot, and its write methods fail.
func (s *Store) View(ctx context.Context, fn func(tx *Tx) error) error {
	return s.run(ctx, true, fn)
}

func (s *Store) run(ctx context.Context, readOnly bool, fn func(tx *Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.k == nil {
		return ErrClosed
	}
	var after []func()
	body := func(btx storage.Tx) error {
		after = after[:0] // a backend may run body again
		if err := checkFresh(btx, s.k); err != nil {
			return err
		}
		tx := &Tx{tx: btx, k: s.k, keepSeen: s.keepSeen, readOnly: readOnly, after: &after}
		defer func() { tx.done = true }()
		return fn(tx)
	}
	if readOnly {
		return s.b.View(ctx, body)
	}
	if err := s.b.Update(ctx, body); err != nil {
		return err
	}
	for _, f := range after {
		f()
	}
	return nil
}

// checkFresh refuses a transaction if the stored verifier is no longer the
// one k was unlocked with: the passphrase changed under this Store, and
// writing with the old keys would leave values no key opens.
func checkFresh(tx storage.Tx, k *keys) error {
	m, ok, err := storage.ReadMeta(tx)
	if err != nil {
		return fmt.Errorf("localstore: read metadata: %w", err)
	}
	if !ok || !bytes.Equal(m.Verifier, k.verifier) {
		return ErrStale
	}
	return nil
}
