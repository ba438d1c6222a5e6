package client

import (
	"errors"
	"fmt"
	"slices"
)

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
	// ErrUsernameTaken: registration refused because the name is bound to
	// another key.
	ErrUsernameTaken = errors.New("username taken")
)

// RefusedError is what Sync returns when it refused incoming envelopes for
// good (garbage, forgeries, replays of another session, senders the
// directory does not know…). Each refused envelope was acknowledged, so it
// cannot clog the mailbox, and is listed here; the messages Sync returns
// alongside this error are good and stored.
type RefusedError struct {
	// Reasons holds one error per refused envelope, in arrival order.
	Reasons []error
	// Err is a failure that stopped Sync after these refusals, or nil.
	Err error
}

func (e *RefusedError) Error() string {
	msg := "refused an incoming envelope: " + e.Reasons[0].Error()
	if n := len(e.Reasons); n > 1 {
		msg = fmt.Sprintf("refused %d incoming envelopes (the first: %v)", n, e.Reasons[0])
	}
	if e.Err != nil {
		msg += "; then: " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the reasons and Err, so that errors.Is finds, say,
// ErrIdentityChanged or ErrServerUnreachable.
func (e *RefusedError) Unwrap() []error {
	if e.Err != nil {
		return append(slices.Clip(e.Reasons), e.Err)
	}
	return e.Reasons
}
