// Package group is the hush group protocol core: signed, versioned group
// state, and sender-key encryption of group messages (doc/SPEC.md §12).
//
// The package promises:
//   - a group State changes only through a Change signed by a member allowed
//     to make it (an admin; the member itself for leave, join and devices),
//     made for exactly the next version on top of exactly the current state
//     (its hash); anything else is refused and changes nothing;
//   - two changes made concurrently on the same state resolve the same way
//     at every member (the lower change hash wins, Log), so members that saw
//     the same changes hold the same state, whatever the delivery order;
//   - a group message is encrypted once for the whole group under the
//     sender's chain and signed once by the sender's group signing key: no
//     public-key operation per recipient;
//   - a receiver opens each message at most once (ErrReplay), only from a
//     chain it was given, only at or after the iteration it was given (a
//     newcomer cannot read what came before), and a message that fails any
//     check leaves the Keyring exactly as it was.
//
// The caller (the client) distributes sender keys over pairwise sessions,
// rotates its Sender when members leave (NeedsRotation) and forgets the
// chains of members who left. It promises nothing about traffic analysis:
// a message header names the group, the epoch and the sending chain.
//
// The package is pure: no I/O, no clock. Randomness comes from crypto/rand.
package group

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Spec labels, verbatim. Signature labels are used as label || 0x00 ||
// message (SPEC §1); the others are HKDF info strings or hash prefixes.
const (
	labelChange      = "hush/v1 group change"
	labelStateHash   = "hush/v1 group state"
	labelChangeHash  = "hush/v1 group change hash"
	labelJoinRequest = "hush/v1 group join request"
	labelMessageSig  = "hush/v1 group message"
	labelMessageKey  = "hush/v1 group message key"
)

// Limits of the protocol.
const (
	// IDSize is the size of a group id.
	IDSize = 16
	// MaxMembers bounds the members of one group.
	MaxMembers = 1000
	// MaxDevices bounds the devices listed for one member.
	MaxDevices = 16
	// MaxNameLen bounds a group name and a username, in bytes (UTF-8).
	MaxNameLen = 64
	// MaxSkip is how far ahead of a chain's next iteration a message may
	// be; it bounds the keys one message can make a receiver derive.
	MaxSkip = 2000
	// MaxStoredSkipped bounds the skipped message keys of a Keyring; beyond
	// it the oldest are evicted.
	MaxStoredSkipped = 2000
	// MaxChains bounds the receiving chains of a Keyring.
	MaxChains = 8192
	// MaxPlaintext is the largest plaintext of one group message; the whole
	// message then fits a 1 MiB envelope payload.
	MaxPlaintext = 1<<20 - 1024
	// MaxHistory is how many recent changes a Log keeps to resolve
	// concurrent changes.
	MaxHistory = 32
)

// Errors other than decoding errors (which are *wire.Error). Check them
// with errors.Is; wrapped detail never contains key or message bytes.
var (
	// ErrForged: a change, request or message whose signature does not
	// verify, or whose signer may not make it.
	ErrForged = errors.New("group: not signed by a member allowed to")
	// ErrStale: a change for a version the state already passed, or a
	// change already applied (a replay).
	ErrStale = errors.New("group: change is stale or replayed")
	// ErrFuture: a change beyond the next version; earlier changes are
	// missing.
	ErrFuture = errors.New("group: change is ahead of the state")
	// ErrFork: a change for the next version made on another state.
	ErrFork = errors.New("group: change was made on another state")
	// ErrLostRace: a concurrent change that loses to the one applied; its
	// author rebases it (Rebase).
	ErrLostRace = errors.New("group: concurrent change lost")
	// ErrInvalid: a change that is well signed but not allowed on the
	// state (adding a member twice, removing the last admin, ...).
	ErrInvalid = errors.New("group: change not allowed on this state")
	// Reasons for ErrInvalid that a user can act on; an error wrapping
	// ErrInvalid matches one of these too when it applies.
	ErrSelfRemove    = errors.New("an admin leaves with a leave change")
	ErrAlreadyAdmin  = errors.New("target is already an admin")
	ErrAlreadyMember = errors.New("already a member")
	ErrNotMember     = errors.New("not a member")
	ErrGroupFull     = errors.New("group is full")
	ErrLastMember    = errors.New("the last member cannot leave")
	ErrLastAdmin     = errors.New("the last admin cannot leave; promote another member first")
	// ErrWrongGroup: input made for another group.
	ErrWrongGroup = errors.New("group: wrong group")
	// ErrUnknownKey: a message from a chain the Keyring was not given.
	ErrUnknownKey = errors.New("group: unknown sender key")
	// ErrKnownKey: a distribution for a chain the Keyring already holds.
	ErrKnownKey = errors.New("group: sender key already known")
	// ErrAuth: a message that does not authenticate.
	ErrAuth = errors.New("group: message authentication failed")
	// ErrReplay: a message already opened, or from before the receiver's
	// chain began, or whose key was evicted.
	ErrReplay = errors.New("group: message already received or its key is gone")
	// ErrTooFarAhead: opening the message would skip more than MaxSkip keys.
	ErrTooFarAhead = errors.New("group: message too far ahead of its chain")
	// ErrTooLarge: a plaintext above MaxPlaintext.
	ErrTooLarge = errors.New("group: plaintext too large")
	// ErrExhausted: the sending chain reached its last iteration.
	ErrExhausted = errors.New("group: sending chain exhausted")
	// ErrSharedKeyID: more than one member device handed over a chain
	// with the same key id (Keyring.Claimants); one of them copied
	// another's. Both chains are kept; a message under that key id is
	// attributed only to a chain it opens under.
	ErrSharedKeyID = errors.New("group: sender key id handed over by several member devices")
	// ErrFull: a Keyring already holds MaxChains chains.
	ErrFull = errors.New("group: too many sender keys")
)

// ID is a group id: 16 random bytes.
type ID [IDSize]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Type is a group's joining policy.
type Type uint8

// Group types.
const (
	// Private: members join only when an admin adds them.
	Private Type = 1
	// Request: anyone may ask (JoinRequest); an admin approves.
	Request Type = 2
	// Public: listed; anyone may join with a self-signed join change.
	Public Type = 3
)

func (t Type) valid() bool { return t >= Private && t <= Public }

func (t Type) String() string {
	switch t {
	case Private:
		return "private"
	case Request:
		return "request"
	case Public:
		return "public"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Role is a member's right in the group.
type Role uint8

// Roles.
const (
	// RoleMember may read, send and leave.
	RoleMember Role = 1
	// RoleAdmin may also change the membership, names and roles.
	RoleAdmin Role = 2
)

func (r Role) valid() bool { return r == RoleMember || r == RoleAdmin }

func (r Role) String() string {
	switch r {
	case RoleMember:
		return "member"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}
