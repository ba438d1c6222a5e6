package apiclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
)

// ErrUnreachable: the server (or an MQTT broker) did not answer.
var ErrUnreachable = errors.New("server unreachable")

// UnreachableError says which address did not answer and why. It matches
// ErrUnreachable with errors.Is.
type UnreachableError struct {
	What string // "server" or "MQTT broker"
	URL  string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the %s at %s: %s", e.What, e.URL, e.Reason())
}

// Unwrap makes the error match ErrUnreachable and its cause.
func (e *UnreachableError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

// Reason is the cause in a few words a user understands.
func (e *UnreachableError) Reason() string { return Reason(e.Err) }

// Reason is the cause of a failed connection in a few words a user
// understands (no socket addresses, no system call names).
func Reason(err error) string {
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.As(err, &dns):
		return fmt.Sprintf("unknown host %s", dns.Name)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "no answer (timed out)"
	}
	// The innermost cause, without the layers that name sockets.
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// unreachable is the error for a request that got no answer: the
// caller's own cancellation as it is, else an *UnreachableError.
func (c *Client) unreachable(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.cfg.Unreachable != nil {
		return c.cfg.Unreachable("server", c.base, err)
	}
	return &UnreachableError{What: "server", URL: c.base, Err: err}
}

// ErrServerKeyChanged: a directory answer is not signed by the pinned
// server key.
var ErrServerKeyChanged = errors.New("the server's signing key changed")

// ServerKeyChangedError names the pinned key and the one the server now
// serves (empty when it could not be fetched). It matches
// ErrServerKeyChanged with errors.Is.
type ServerKeyChangedError struct {
	Pinned string // fingerprint of the pinned key
	Served string // fingerprint of the key the server serves now, if known
}

func (e *ServerKeyChangedError) Error() string {
	served := e.Served
	if served == "" {
		served = "unknown"
	}
	return fmt.Sprintf("the server's signing key changed: pinned %s, served %s", e.Pinned, served)
}

func (e *ServerKeyChangedError) Unwrap() error { return ErrServerKeyChanged }

// keyChanged builds the error for an answer whose signature does not
// verify under the pinned key, asking the server which key it uses now.
func (c *Client) keyChanged(ctx context.Context, pinned *identity.IdentityKey) error {
	e := &ServerKeyChangedError{Pinned: identity.Fingerprint(pinned)}
	var r proto.ServerKeyAnswer
	if _, err := c.do(ctx, "GET", "/v1/server-key", "", nil, "", &r); err == nil {
		if k, err := identity.NewIdentityKey(r.Key); err == nil {
			e.Served = identity.Fingerprint(k)
		}
	}
	if c.cfg.KeyChanged != nil {
		return c.cfg.KeyChanged(e.Pinned, e.Served)
	}
	return e
}
