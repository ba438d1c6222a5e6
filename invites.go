package hush

import (
	"context"
	"errors"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
)

// Registration and invite refusals (doc/API.md §2.17). errors.Is finds
// them in what Create and CreateInvite return, whose Error() is the
// server's one-line explanation.
var (
	// ErrRegistrationClosed: the server registers nobody.
	ErrRegistrationClosed = errors.New("registration is closed on this server")
	// ErrInviteRequired: the server registers by invitation only and
	// Options.Invite was empty.
	ErrInviteRequired = errors.New("this server registers by invitation only")
	// ErrInviteInvalid: the invite code is not one of this server's.
	ErrInviteInvalid = errors.New("invite code not valid on this server")
	// ErrInviteUsed: the invite code admitted all the registrations it
	// could.
	ErrInviteUsed = errors.New("invite code already used")
	// ErrInviteExpired: the invite code is past its expiry.
	ErrInviteExpired = errors.New("invite code expired")
	// ErrInvitesDisabled: the server does not let users issue invites.
	ErrInvitesDisabled = errors.New("this server does not let users issue invites")
	// ErrInviteLimit: the user issued every invite the server allows.
	ErrInviteLimit = errors.New("no invites left")
	// ErrRateLimited: the server asks to wait before trying again; the
	// error is a *RateLimitedError.
	ErrRateLimited = errors.New("rate limited by the server")
)

// RateLimitedError is a refusal that waiting cures.
type RateLimitedError struct {
	// Message is the server's explanation ("too many registrations from
	// this network address; try again in 2 minutes").
	Message string
	// RetryAfter is how long the server asked to wait; zero if it did
	// not say.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string { return e.Message }

func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }

// registrationErr turns a refused registration or invite request into
// the errors above; anything else goes through serverErr.
func registrationErr(err error) error {
	var ae *apiclient.Error
	if !errors.As(err, &ae) {
		return serverErr(err)
	}
	sentinel := map[string]error{
		"registration_closed": ErrRegistrationClosed,
		"invite_required":     ErrInviteRequired,
		"invite_invalid":      ErrInviteInvalid,
		"invite_used":         ErrInviteUsed,
		"invite_expired":      ErrInviteExpired,
		"invites_disabled":    ErrInvitesDisabled,
		"invite_limit":        ErrInviteLimit,
	}[ae.Code]
	switch {
	case sentinel != nil:
		return &refusal{kind: sentinel, msg: ae.Message}
	case ae.Code == "rate_limited":
		return &RateLimitedError{Message: ae.Message, RetryAfter: ae.RetryAfter}
	}
	return err
}

// refusal is a server refusal of a known kind with the server's message.
type refusal struct {
	kind error
	msg  string
}

func (r *refusal) Error() string { return r.msg }

func (r *refusal) Unwrap() error { return r.kind }

// Invite is an invite code issued by this user.
type Invite struct {
	Code      string
	ExpiresAt time.Time
	// InvitesLeft is how many more invites the user may issue now.
	InvitesLeft int
}

// CreateInvite asks the server for a one-use invite code, valid for
// validFor (0: the server's default, 7 days; at most 30 days), that lets
// a newcomer register on a server that registers by invitation. The
// operator decides whether, and how many, invites users may issue.
func (c *Client) CreateInvite(ctx context.Context, validFor time.Duration) (*Invite, error) {
	ans, err := c.api.CreateInvite(ctx, c.prof.Username, c.id, validFor)
	if err != nil {
		return nil, registrationErr(err)
	}
	return &Invite{Code: ans.Code, ExpiresAt: time.Unix(ans.ExpiresAt, 0), InvitesLeft: ans.InvitesLeft}, nil
}
