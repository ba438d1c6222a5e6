package localstore

import "errors"

var (
	// ErrWrongPassphrase: the passphrase does not unlock the profile.
	ErrWrongPassphrase = errors.New("localstore: wrong passphrase")
	// ErrNotFound: no value under that name.
	ErrNotFound = errors.New("localstore: not found")
	// ErrExists: Create found a profile already in the directory.
	ErrExists = errors.New("localstore: a profile already exists here")
	// ErrNoProfile: the directory holds no profile.
	ErrNoProfile = errors.New("localstore: no profile here")
	// ErrCorrupt: a stored value failed authentication (the file was
	// damaged or tampered with, or a value moved to another row) or the
	// file's metadata is malformed.
	ErrCorrupt = errors.New("localstore: profile data is corrupt or was tampered with")
	// ErrStale: another Store (in this or another process) changed the
	// passphrase; this one holds the old keys and must be reopened.
	ErrStale = errors.New("localstore: the profile's passphrase changed; reopen it")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("localstore: store is closed")

	// errReadOnly: a write inside View, a bug in the caller.
	errReadOnly = errors.New("localstore: write in a read-only transaction")
)
