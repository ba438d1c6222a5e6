package localstore

import "errors"

var (
	// ErrWrongPassphrase: the passphrase or application key does not
	// unlock the profile.
	ErrWrongPassphrase = errors.New("localstore: wrong passphrase")
	// ErrKeyKind: the profile is locked by a passphrase and an
	// application key was given, or the other way round.
	ErrKeyKind = errors.New("localstore: the profile is locked by another kind of key")
	// ErrBadKey: an application key that is not 32 bytes, or an empty
	// passphrase.
	ErrBadKey = errors.New("localstore: a key must be 32 bytes and a passphrase not empty")
	// ErrNotFound: no value under that name.
	ErrNotFound = errors.New("localstore: not found")
	// ErrExists: Create found a profile already in the backend.
	ErrExists = errors.New("localstore: a profile already exists here")
	// ErrNoProfile: the backend holds no profile.
	ErrNoProfile = errors.New("localstore: no profile here")
	// ErrCorrupt: a stored value failed authentication (the store was
	// damaged or tampered with, or a value moved to another row) or the
	// profile's metadata is malformed.
	ErrCorrupt = errors.New("localstore: profile data is corrupt or was tampered with")
	// ErrStale: another Store (in this or another process) changed the
	// passphrase; this one holds the old keys and must be reopened.
	ErrStale = errors.New("localstore: the profile's passphrase changed; reopen it")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("the profile is closed (the Client was closed)")

	// errReadOnly: a write inside View, a bug in the caller.
	errReadOnly = errors.New("localstore: write in a read-only transaction")
)
