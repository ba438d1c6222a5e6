package hush

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/identity"
)

// GroupType is a group's joining policy.
type GroupType uint8

// Group types (doc/SPEC.md §12).
const (
	// GroupPrivate: members join only when an admin adds them.
	GroupPrivate GroupType = GroupType(group.Private)
	// GroupRequest: anyone may ask to join (RequestJoin); an admin approves.
	GroupRequest GroupType = GroupType(group.Request)
	// GroupPublic: listed on the server (PublicRooms); anyone may join
	// without approval (JoinPublic).
	GroupPublic GroupType = GroupType(group.Public)
)

// MaxGroupMembers bounds the members of one group.
const MaxGroupMembers = group.MaxMembers

// String returns "private", "request" or "public".
func (t GroupType) String() string { return group.Type(t).String() }

// ParseGroupType is the inverse of String.
func ParseGroupType(s string) (GroupType, error) {
	for _, t := range []GroupType{GroupPrivate, GroupRequest, GroupPublic} {
		if s == t.String() {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown group type %q: use private, request or public", s)
}

// ErrSafetyMismatch: a compared or scanned safety number is not this one.
var ErrSafetyMismatch = errors.New("safety number does not match")

// SafetyNumber is what two users compare, read aloud or scanned as a QR
// code, to know that each holds the other's real identity key (doc/SPEC.md
// §3.4). Both sides compute the same number.
type SafetyNumber struct {
	sn *identity.SafetyNumber
}

// String returns the 60 digits in twelve groups of five.
func (s *SafetyNumber) String() string { return s.sn.String() }

// Digits returns the 60 digits without separators.
func (s *SafetyNumber) Digits() string { return s.sn.Digits() }

// QRPayload returns the bytes to show as a QR code for the other user to
// scan (VerifyQR on their side). It carries more bits than the digits.
func (s *SafetyNumber) QRPayload() []byte { return s.sn.QRPayload() }

// Matches compares digits another user read out with this number; spaces
// and other separators are ignored. It returns nil or ErrSafetyMismatch.
func (s *SafetyNumber) Matches(digits string) error {
	d := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		if r == ' ' || r == '-' || r == '\t' || r == '\n' {
			return -1
		}
		return 'x' // anything else cannot match
	}, digits)
	if subtle.ConstantTimeCompare([]byte(d), []byte(s.sn.Digits())) != 1 {
		return ErrSafetyMismatch
	}
	return nil
}

// VerifyQR compares a scanned QR payload with this number. It returns
// nil, ErrSafetyMismatch, or an error saying the payload is not a hush
// safety-number code.
func (s *SafetyNumber) VerifyQR(payload []byte) error {
	err := s.sn.VerifyQR(payload)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, identity.ErrSafetyMismatch):
		return ErrSafetyMismatch
	}
	return errors.New("not a hush safety-number QR code")
}

func newSafetyNumber(userA string, keyA *identity.IdentityKey, userB string, keyB *identity.IdentityKey) (*SafetyNumber, error) {
	sn, err := identity.NewSafetyNumber(userA, keyA, userB, keyB)
	if err != nil {
		return nil, err
	}
	return &SafetyNumber{sn: sn}, nil
}

// Group changes the rules refuse (doc/SPEC.md §12): AddMember,
// RemoveMember, PromoteMember, LeaveGroup and the other changes return an
// error matching one of these with errors.Is.
var (
	// ErrSelfRemove: an admin removes itself; LeaveGroup is how to leave.
	ErrSelfRemove = group.ErrSelfRemove
	// ErrLastAdmin: the last admin leaves; promote another member first.
	ErrLastAdmin = group.ErrLastAdmin
	// ErrLastMember: the last member cannot leave or be removed.
	ErrLastMember = group.ErrLastMember
	// ErrAlreadyMember: the user to add is a member already.
	ErrAlreadyMember = group.ErrAlreadyMember
	// ErrNotMember: the user the change is about is not a member.
	ErrNotMember = group.ErrNotMember
	// ErrAlreadyAdmin: the user to promote is an admin already.
	ErrAlreadyAdmin = group.ErrAlreadyAdmin
	// ErrGroupFull: the group has MaxGroupMembers members.
	ErrGroupFull = group.ErrGroupFull
	// ErrGroupChangeInvalid: the group's current state does not allow the
	// change (not an admin, wrong type…).
	ErrGroupChangeInvalid = group.ErrInvalid
)
