package hush

import (
	"errors"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/localstore"
)

var (
	// ErrNoProfile: the home directory holds no profile (run init first).
	ErrNoProfile = errors.New("no hush profile here (run hush init first)")
	// ErrProfileExists: Create on a directory that already has a profile.
	ErrProfileExists = errors.New("a hush profile already exists here")
	// ErrEmptyPassphrase: Create or Open was given no passphrase; a
	// profile is never protected by an empty one.
	ErrEmptyPassphrase = errors.New("the passphrase is empty: choose one (it protects every key in the profile)")
	// ErrClosed: the Client was closed; open the profile again to go on.
	ErrClosed = localstore.ErrClosed
	// ErrWrongPassphrase: the passphrase does not unlock the profile.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrUnknownUser: the directory has no active user of that name.
	ErrUnknownUser = errors.New("unknown user")
	// ErrServerUnreachable: the server (or broker) did not answer; the
	// error is an *UnreachableError naming the address and the cause.
	ErrServerUnreachable = errors.New("server unreachable")
	// ErrServerKeyChanged: the server's answers are signed by another key
	// than the one pinned at init; the error is a *ServerKeyChangedError
	// with both fingerprints. Nothing is trusted from the server until the
	// user decides (the operator replaced the key, or someone intercepts).
	ErrServerKeyChanged = errors.New("the server's signing key changed")
	// ErrServerKeyMismatch: Create was given Options.ServerKey and the
	// server signs with another key; the error is a
	// *ServerKeyChangedError with both fingerprints. Nothing was
	// registered.
	ErrServerKeyMismatch = errors.New("the server's signing key is not the one expected")
	// ErrAccountDeleted: the profile's own account was deleted from the
	// server; the local history stays readable, nothing can be sent or
	// received. The error is an *AccountDeletedError.
	ErrAccountDeleted = errors.New("account deleted from the server")
	// ErrDeviceRemoved: this device was removed from its account (Client.
	// RemoveDevice, from this or another device): it receives nothing more.
	// The local history stays readable.
	ErrDeviceRemoved = errors.New("this device was removed from its account: it receives nothing more (hush device link in a new home makes it a device again)")
	// ErrEmptyMessage: Send was given no text.
	ErrEmptyMessage = errors.New("empty message")
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
	// ErrProfileBusy: another Listen (in this or another process) is
	// receiving for the profile. A profile has one receiver at a time:
	// two would split the incoming messages between them. Sync refuses
	// with it too rather than waiting, since the running listener already
	// shows what arrives.
	ErrProfileBusy = errors.New("another receiver is running for this profile")
	// ErrRefused matches an Event.Err for an incoming envelope refused for
	// good (acknowledged so it cannot clog the mailbox); errors.Unwrap of
	// that error gives the reason.
	ErrRefused = errors.New("envelope refused")
)

// UnreachableError says which server or broker did not answer and why.
// It matches ErrServerUnreachable and its cause with errors.Is.
type UnreachableError struct {
	What string // "server" or "MQTT broker"
	URL  string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the %s at %s: %s", e.What, e.URL, e.Reason())
}

// Unwrap returns ErrServerUnreachable and the cause.
func (e *UnreachableError) Unwrap() []error { return []error{ErrServerUnreachable, e.Err} }

// Reason is the cause in a few words a user understands (no socket
// addresses, no system call names).
func (e *UnreachableError) Reason() string { return apiclient.Reason(e.Err) }

// ServerKeyChangedError carries the pinned (or, from Create, the expected)
// and the served server key fingerprints. It matches ErrServerKeyChanged,
// or from Create ErrServerKeyMismatch, with errors.Is.
type ServerKeyChangedError struct {
	Pinned   string // fingerprint of the pinned or expected key
	Served   string // fingerprint of the key the server serves now, if known
	atCreate bool
}

func (e *ServerKeyChangedError) Error() string {
	served := e.Served
	if served == "" {
		served = "unknown"
	}
	if e.atCreate {
		return fmt.Sprintf("the server signs with key %s, not the expected %s: check the server address and the fingerprint its operator gave", served, e.Pinned)
	}
	return fmt.Sprintf("the server's signing key changed: pinned %s, served %s", e.Pinned, served)
}

// Unwrap returns ErrServerKeyChanged, or ErrServerKeyMismatch for Create.
func (e *ServerKeyChangedError) Unwrap() error {
	if e.atCreate {
		return ErrServerKeyMismatch
	}
	return ErrServerKeyChanged
}

// AccountDeletedError names the profile's account that the server no
// longer has. It matches ErrAccountDeleted with errors.Is.
type AccountDeletedError struct{ Username string }

func (e *AccountDeletedError) Error() string {
	return "account " + e.Username + " deleted from the server"
}

func (e *AccountDeletedError) Unwrap() error { return ErrAccountDeleted }

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
