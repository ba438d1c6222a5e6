package group

import (
	"fmt"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/wire"
)

const (
	joinVersion        = 0x01
	joinStruct         = "group join request"
	maxJoinRequestSize = 1 + IDSize + 1 + MaxNameLen + 32 + 1 + 1 + 4*MaxDevices + 8 + sigSize
)

// JoinRequest asks to join a group of type Request. The requester signs it
// with its identity key; an admin approves it with a KindApprove change
// carrying it, so the approval proves the newcomer asked for exactly this
// group with exactly these devices.
type JoinRequest struct {
	GroupID ID
	Member  Member // the requester; Role is RoleMember
	Created int64  // the requester's clock, Unix seconds (informational)
	Sig     [sigSize]byte

	raw []byte
}

// NewJoinRequest builds and signs a request to join group id as member m
// (whose Identity must be priv's public key). now is the caller's clock.
func NewJoinRequest(id ID, m Member, priv *identity.IdentityPrivateKey, now int64) (*JoinRequest, error) {
	m = m.clone()
	m.Role = RoleMember
	if !validMember(&m) {
		return nil, fmt.Errorf("%w: invalid member", ErrInvalid)
	}
	if [32]byte(priv.Public().Bytes()) != m.Identity {
		return nil, fmt.Errorf("%w: identity key does not match the member", ErrInvalid)
	}
	j := &JoinRequest{GroupID: id, Member: m, Created: now}
	body := j.signed()
	copy(j.Sig[:], priv.Sign(labelJoinRequest, body))
	j.raw = append(body, j.Sig[:]...)
	return j, nil
}

// signed returns u8(0x01) || group_id (16) || member || u64(created).
func (j *JoinRequest) signed() []byte {
	w := wire.NewWriter(nil)
	w.U8(joinVersion)
	w.Fixed(j.GroupID[:])
	writeMember(w, &j.Member)
	w.U64(uint64(j.Created))
	return w.Bytes()
}

// Marshal returns the encoding: the signed part || sig (64).
func (j *JoinRequest) Marshal() []byte { return append([]byte(nil), j.raw...) }

// ParseJoinRequest decodes a request and verifies its signature with the
// key it carries (so a request names only a key whose holder made it).
func ParseJoinRequest(b []byte) (*JoinRequest, error) {
	if len(b) > maxJoinRequestSize {
		return nil, wire.Errorf(joinStruct, "", wire.ErrTooLarge, "%d bytes, limit %d", len(b), maxJoinRequestSize)
	}
	r := wire.NewReader(joinStruct, b)
	r.Version(joinVersion)
	j := &JoinRequest{}
	copy(j.GroupID[:], r.Fixed("group_id", IDSize))
	j.Member = readMember(r, "member")
	if r.Err() == nil && j.Member.Role != RoleMember {
		// A requester cannot ask to be made admin by an approval.
		r.Fail("member.role", wire.ErrMalformed, "a request is for role member")
	}
	j.Created = int64(r.U64("created"))
	copy(j.Sig[:], r.Fixed("sig", sigSize))
	if err := r.Done(); err != nil {
		return nil, err
	}
	if err := j.Member.key().Verify(labelJoinRequest, b[:len(b)-sigSize], j.Sig[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrForged, err)
	}
	j.raw = append([]byte(nil), b...)
	return j, nil
}
