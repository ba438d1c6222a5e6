package shamir

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. What Verify, Combine and the decoders refuse wraps one
// of them (ErrSetSignature is returned as is), so callers branch with
// errors.Is; the messages users see come from the typed errors below.
var (
	// ErrOtherSet: the share belongs to another Split (an older recovery
	// setup, or another user's).
	ErrOtherSet = errors.New("recovery: share of another recovery setup")
	// ErrMismatch: the share does not match its commitment in the set (or
	// its K, N or x are not the set's): it was altered or damaged.
	ErrMismatch = errors.New("recovery: share does not match the recovery set")
	// ErrDuplicate: a second share with the same index.
	ErrDuplicate = errors.New("recovery: share given more than once")
	// ErrNotEnough: fewer than K distinct valid shares.
	ErrNotEnough = errors.New("recovery: not enough shares")
	// ErrSetSignature: the set's signature does not verify under the
	// user's identity key.
	ErrSetSignature = errors.New("recovery: the recovery set is not signed by this user's identity key: fetch it again, or set up recovery again")

	// Decoding failures, wrapped in a *DecodeError.
	ErrTruncated = errors.New("truncated")
	ErrTrailing  = errors.New("trailing data")
	ErrVersion   = errors.New("unsupported version")
	ErrMalformed = errors.New("malformed")
)

// ShareError names one share that cannot be used, by its index (its x,
// 1..N; 0 for a share of no set).
type ShareError struct {
	Index int
	Err   error // ErrOtherSet, ErrMismatch or ErrDuplicate
}

func (e *ShareError) Error() string { return "recovery: " + e.describe() }

// describe says what is wrong with the share and what to do, without the
// "recovery: " prefix.
func (e *ShareError) describe() string {
	var what string
	switch {
	case errors.Is(e.Err, ErrOtherSet):
		what = "is from a different recovery setup (an older one?): ask its holder for the share of the current setup"
	case errors.Is(e.Err, ErrMismatch):
		what = "does not match the recovery set (altered or damaged): ask its holder to send it again"
	case errors.Is(e.Err, ErrDuplicate):
		what = "was given more than once: give each share once"
	default:
		what = "cannot be used: ask its holder to send it again"
	}
	return fmt.Sprintf("share %d %s", e.Index, what)
}

func (e *ShareError) Unwrap() error { return e.Err }

// CombineError is Combine's refusal: every share it could not use, and how
// many distinct valid shares it had of the Threshold it needs.
type CombineError struct {
	Bad       []*ShareError
	Valid     int
	Threshold int
}

// More returns how many more valid shares recovery needs (0 when enough
// remain once the bad ones are left out).
func (e *CombineError) More() int { return max(0, e.Threshold-e.Valid) }

// Error is one line: each bad share and what to do about it, then what is
// missing.
func (e *CombineError) Error() string {
	var parts []string
	for _, s := range e.Bad {
		parts = append(parts, s.describe())
	}
	if m := e.More(); m > 0 {
		plural := "s"
		if m == 1 {
			plural = ""
		}
		parts = append(parts, fmt.Sprintf("%d of %d shares are valid: ask %d more holder%s for their share", e.Valid, e.Threshold, m, plural))
	}
	return "recovery: " + strings.Join(parts, "; ")
}

// Unwrap returns the ShareErrors, and ErrNotEnough when shares are missing,
// for errors.Is and errors.As.
func (e *CombineError) Unwrap() []error {
	var errs []error
	for _, s := range e.Bad {
		errs = append(errs, s)
	}
	if e.More() > 0 {
		errs = append(errs, ErrNotEnough)
	}
	return errs
}

// DecodeError is a refused encoding: which structure ("share" or "set"),
// which field, and why. It never holds input bytes.
type DecodeError struct {
	Struct string
	Field  string
	Err    error // ErrTruncated, ErrTrailing, ErrVersion or ErrMalformed
}

func decodeErr(structName, field string, err error) *DecodeError {
	return &DecodeError{Struct: structName, Field: field, Err: err}
}

func (e *DecodeError) Error() string {
	next := "ask its holder to send it again"
	if e.Struct == "set" {
		next = "fetch it again"
	}
	return fmt.Sprintf("recovery: the recovery %s is damaged (%s: %v): %s", e.Struct, e.Field, e.Err, next)
}

func (e *DecodeError) Unwrap() error { return e.Err }
