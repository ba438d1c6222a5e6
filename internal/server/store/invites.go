package store

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrInviteExpired: the invite code exists but its expiry has passed.
	ErrInviteExpired = errors.New("invite expired")
	// ErrInviteUsed: the invite code exists but every use was redeemed.
	ErrInviteUsed = errors.New("invite used")
	// ErrInviteLimit: the user already holds as many invites as the
	// server lets a user issue.
	ErrInviteLimit = errors.New("invite limit reached")
)

// Invite is a registration invite code. Only the code's SHA-256 is stored:
// a database leak yields no usable code.
type Invite struct {
	Hash      []byte // SHA-256 of the canonical code
	CreatedBy string // issuing username; "" for the operator
	CreatedAt time.Time
	ExpiresAt time.Time
	MaxUses   int // registrations the code admits
	Used      int // registrations it admitted so far
}

// Invites holds registration invite codes.
type Invites interface {
	// PutInvite stores a new invite; a hash already stored is ErrExists.
	PutInvite(ctx context.Context, inv Invite) error
	// PutUserInvite stores an invite issued by the user inv.CreatedBy
	// unless that user already holds limit invites that were used or have
	// not expired at inv.CreatedAt: ErrInviteLimit then. The count and the
	// insert are one transaction, so concurrent requests cannot exceed
	// the limit.
	PutUserInvite(ctx context.Context, inv Invite, limit int) error
	// CountUserInvites returns how many invites of the user were used or
	// have not expired at now: what PutUserInvite counts.
	CountUserInvites(ctx context.Context, username string, now time.Time) (int, error)
	// CreateAccountWithInvite redeems one use of the invite with this hash
	// and creates the account as CreateAccount does, in one transaction:
	// either both happen or neither. Under concurrent calls an invite is
	// never redeemed more often than its MaxUses. It returns the invite as
	// it was before this use; ErrNotFound for an unknown code,
	// ErrInviteExpired or ErrInviteUsed, or CreateAccount's errors (then
	// the invite is not used).
	CreateAccountWithInvite(ctx context.Context, hash []byte, now time.Time, a Account, d Device, signed, lastResort PreKey, allowReuse bool) (*Invite, error)
	// ReleaseInvite gives back one redeemed use of the invite (its
	// registration was dropped before anyone could use the account).
	ReleaseInvite(ctx context.Context, hash []byte) error
}
