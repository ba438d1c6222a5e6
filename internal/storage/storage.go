// Package storage is the contract every place a hush client keeps its
// data satisfies: named tables of opaque keys and values, ordered by key,
// read and written in transactions. The encrypted SQLite profile
// (internal/sqlitestore), the in-memory store (Memory) and an
// application's own database all sit behind it.
//
// A backend sees only what the sealing layer above it (internal/localstore)
// hands it: blinded row keys, sequence numbers and XChaCha20-Poly1305
// ciphertexts, plus one plaintext record (Meta). It never learns a
// username, a message or a key, and it need not be trusted with secrets:
// a value it alters or moves fails to open above it.
//
// # The contract
//
// Tables are named by short ASCII strings and come into being with their
// first row. Keys are non-empty byte strings compared with bytes.Compare;
// values may be empty. A table holds at most one value per key.
//
// View runs fn on a consistent snapshot: it sees every Update that
// returned before View began and nothing of one that had not. Its Put
// and Delete fail.
//
// Update runs fn in one atomic transaction: if fn returns nil and Update
// returns nil, everything fn wrote is stored together and, for a durable
// backend, survives a crash of the process or the machine from that moment
// on; if either returns an error (or fn panics), nothing fn wrote is
// stored. Updates are serialized (within the process and, for a backend
// shared by processes, across them), so fn may read, decide, then write.
//
// A Tx is valid only inside the fn it was given to and is not used from
// more than one goroutine at a time. Slices a Tx returns are valid until
// the transaction ends and must not be modified; a backend copies the
// slices passed to Put if it keeps them past the call.
//
// # What must be durable before an envelope is acknowledged
//
// The client acknowledges an envelope to the relay (or a broker) only
// after the Update that stored its effects returned nil: the new session
// state, the message in history, the seen mark of its sequence number and
// anything held for later. A backend that returns nil from Update before
// those rows would survive a crash loses messages the relay has already
// deleted. Memory is not durable: a process that dies loses everything
// received since it started, and says so in its documentation.
package storage

import (
	"context"
	"errors"
)

// Backend is where a client's sealed rows live. It is safe for concurrent
// use.
type Backend interface {
	// View runs fn on a consistent, read-only snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in one atomic, serialized, durable transaction.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the backend. Closing twice is harmless.
	Close() error
}

// Tx reads and writes the tables of a Backend inside View or Update.
type Tx interface {
	// Get returns the value under key in table, and whether there is one.
	Get(table string, key []byte) (value []byte, ok bool, err error)
	// Put stores value under key in table, replacing what was there.
	Put(table string, key, value []byte) error
	// Delete removes key from table. Deleting what is not there is not
	// an error.
	Delete(table string, key []byte) error
	// Scan calls fn for each row of table whose key k has from <= k < to,
	// in ascending key order, or descending if reverse is set. A nil from
	// means the first key, a nil to past the last. If fn returns an error,
	// Scan stops and returns it. fn may write to the transaction; whether
	// the scan then visits rows fn wrote is not defined.
	Scan(table string, from, to []byte, reverse bool, fn func(key, value []byte) error) error
}

var (
	// ErrReadOnly: Put or Delete inside View.
	ErrReadOnly = errors.New("storage: write in a read-only transaction")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("storage: store is closed")
	// ErrTxDone: a Tx used after its transaction ended.
	ErrTxDone = errors.New("storage: transaction has ended")
)

// PrefixEnd returns the smallest key greater than every key that starts
// with prefix, for Scan(table, prefix, PrefixEnd(prefix), …); nil if there
// is none (prefix is all 0xff).
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// errEmptyKey: Put with an empty key, which the contract does not allow.
var errEmptyKey = errors.New("storage: empty key")

// Scrubber is a Backend that may keep remains of overwritten and deleted
// values for a while (the SQLite backend's write-ahead log). Scrub erases
// them; the sealing layer calls it after re-keying a profile, so a copy
// of the store taken afterwards holds nothing the old key opens.
type Scrubber interface {
	Scrub(ctx context.Context) error
}
