package shamir

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; every error this package returns wraps one of them (or
// carries ErrSetSignature as is), so callers branch with errors.Is.
var (
	// ErrOtherSet: the share belongs to another Split (an older recovery
	// setup, or another user's).
	ErrOtherSet = errors.New("is from a different recovery setup (an older one?): ask its holder for the share of the current setup")
	// ErrMismatch: the share does not match its commitment in the set (or
	// its K, N or x are not the set's): it was altered or damaged.
	ErrMismatch = errors.New("does not match the recovery set (altered or damaged): ask its holder to send it again")
	// ErrDuplicate: a second share with the same index.
	ErrDuplicate = errors.New("was given more than once: give each share once")
	// ErrNotEnough: fewer than K distinct valid shares.
	ErrNotEnough = errors.New("not enough shares")
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

func (e *ShareError) describe() string { return fmt.Sprintf("share %d %v", e.Index, e.Err) }

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
