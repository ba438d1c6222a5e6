package store

import "errors"

// ErrUnavailable marks a failure of the storage itself rather than of the
// request: a full disk, an I/O error, a read-only or locked database, a
// closed handle, a lost database connection, a query that ran out of time.
// Backends wrap such errors so that errors.Is(err, ErrUnavailable) holds
// while the cause stays in the chain for the log. The server answers them
// 503 "unavailable" with a Retry-After: the same request may succeed once
// the operator has fixed the store, and nothing about it was wrong.
var ErrUnavailable = errors.New("store unavailable")

// UnavailableError is an ErrUnavailable with a short reason an operator can
// act on ("disk or database full") and the backend's error as its cause.
type UnavailableError struct {
	Reason string
	Err    error
}

func (e *UnavailableError) Error() string {
	return "store unavailable (" + e.Reason + "): " + e.Err.Error()
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// UnavailableReason returns the reason of the first UnavailableError in
// err's chain, or "" if there is none.
func UnavailableReason(err error) string {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue.Reason
	}
	return ""
}
