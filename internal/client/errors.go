package client

import "errors"

var (
	// ErrNoProfile: the home directory holds no profile (run init first).
	ErrNoProfile = errors.New("no hush profile here (run hush init first)")
	// ErrProfileExists: Create on a directory that already has a profile.
	ErrProfileExists = errors.New("a hush profile already exists here")
	// ErrWrongPassphrase: the passphrase does not unlock the profile.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrUnknownUser: the directory has no active user of that name.
	ErrUnknownUser = errors.New("unknown user")
	// ErrServerUnreachable: the server (or broker) did not answer.
	ErrServerUnreachable = errors.New("server unreachable")
	// ErrIdentityChanged: the contact's identity key changed; nothing is
	// sent until the user accepts the new key.
	ErrIdentityChanged = errors.New("identity key changed")
	// ErrTooLarge: the message is larger than one message may be.
	ErrTooLarge = errors.New("message too large")
	// ErrQueued: the message is stored and queued, but the server has not
	// accepted it yet; it is retried (see QueuedError).
	ErrQueued = errors.New("queued, not sent yet")
	// ErrSendRefused: the server refused the message for good; it is
	// marked failed in the history with the reason.
	ErrSendRefused = errors.New("message refused by the server")
	// ErrUsernameTaken: registration refused because the name is bound to
	// another key.
	ErrUsernameTaken = errors.New("username taken")
)
