package group

import (
	"fmt"
)

// Apply checks c against st and returns the state it leads to; st is not
// modified, and on error nothing changes. st is nil only for a create.
//
// The checks, in order: the change belongs to this group (ErrWrongGroup);
// it is for exactly the next version (ErrStale for a replayed or old one,
// ErrFuture when changes are missing) made on exactly this state
// (ErrFork); its signer may make it and signed it (ErrForged); it makes
// sense on this state (ErrInvalid).
func Apply(st *State, c *Change) (*State, error) {
	if len(c.raw) < sigSize {
		return nil, fmt.Errorf("%w: unsigned change", ErrForged)
	}
	if st == nil {
		return applyCreate(c)
	}
	if c.GroupID != st.id {
		return nil, ErrWrongGroup
	}
	switch {
	case c.Version <= st.version:
		return nil, fmt.Errorf("%w: version %d, state at %d", ErrStale, c.Version, st.version)
	case c.Version > st.version+1:
		return nil, fmt.Errorf("%w: version %d, state at %d", ErrFuture, c.Version, st.version)
	}
	if c.Prev != st.Hash() {
		return nil, ErrFork
	}
	if err := authorize(st, c); err != nil {
		return nil, err
	}
	next := st.clone()
	if err := next.apply(c); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, c.Kind, err)
	}
	next.version = c.Version
	next.prev = c.Prev
	return next, nil
}

// applyCreate starts a state from a create change signed by an admin it
// lists.
func applyCreate(c *Change) (*State, error) {
	if c.Kind != KindCreate {
		return nil, fmt.Errorf("%w: %s without a state", ErrInvalid, c.Kind)
	}
	if c.Version != 1 || c.Prev != ([32]byte{}) {
		return nil, fmt.Errorf("%w: create must be version 1 with no prev", ErrInvalid)
	}
	if err := checkOp(&c.Op); err != nil {
		return nil, err
	}
	st := &State{id: c.GroupID, name: c.Name, typ: c.Type, version: 1}
	for _, m := range c.Members {
		st.members = append(st.members, m.clone())
	}
	if !st.IsAdmin(c.Signer) {
		return nil, fmt.Errorf("%w: creator is not an admin of the group", ErrForged)
	}
	m, _ := st.Member(c.Signer)
	if err := c.verify(m.Identity); err != nil {
		return nil, err
	}
	return st, nil
}

// authorize checks that c's signer may make c on st and that the
// signature is the signer's.
func authorize(st *State, c *Change) error {
	signer, isMember := st.Member(c.Signer)
	switch c.Kind {
	case KindJoin:
		// A join is the only change signed by a non-member: the key is
		// the one the joiner brings, and it joins only itself.
		if c.Member.Name != c.Signer {
			return fmt.Errorf("%w: a join adds its signer", ErrForged)
		}
		signer, isMember = c.Member, true
	case KindLeave, KindDevices:
		// Members change only themselves.
	default:
		if isMember && signer.Role != RoleAdmin {
			return fmt.Errorf("%w: %s needs an admin", ErrForged, c.Kind)
		}
	}
	if !isMember {
		return fmt.Errorf("%w: signer is not a member", ErrForged)
	}
	return c.verify(signer.Identity)
}

// apply performs c's op on s (a private copy).
func (s *State) apply(c *Change) error {
	switch c.Kind {
	case KindAdd:
		return s.add(c.Member)
	case KindJoin:
		if s.typ != Public {
			return fmt.Errorf("group is %s, not public", s.typ)
		}
		if c.Member.Role != RoleMember {
			return fmt.Errorf("a join is for role member")
		}
		return s.add(c.Member)
	case KindApprove:
		return s.approve(c.Request)
	case KindRemove:
		if c.Target == c.Signer {
			return ErrSelfRemove
		}
		return s.remove(c.Target)
	case KindLeave:
		return s.remove(c.Signer)
	case KindPromote:
		i, ok := s.find(c.Target)
		if !ok {
			return ErrNotMember
		}
		if s.members[i].Role == RoleAdmin {
			return ErrAlreadyAdmin
		}
		// The key is public: no constant-time comparison needed.
		if s.members[i].Identity != c.Identity {
			return fmt.Errorf("%s holds another identity key than the one promoted", c.Target)
		}
		s.members[i].Role = RoleAdmin
	case KindRename:
		s.name = c.Name
	case KindDevices:
		i, _ := s.find(c.Signer)
		s.members[i].Devices = append([]uint32(nil), c.Devices...)
	default:
		return fmt.Errorf("not allowed on an existing group")
	}
	return nil
}

func (s *State) add(m Member) error {
	i, exists := s.find(m.Name)
	if exists {
		return ErrAlreadyMember
	}
	if len(s.members) >= MaxMembers {
		return ErrGroupFull
	}
	s.members = append(s.members, Member{})
	copy(s.members[i+1:], s.members[i:])
	s.members[i] = m.clone()
	return nil
}

// remove deletes member name. A group keeps at least one admin and one
// member: the last admin promotes someone before leaving, and the last
// member simply forgets the group.
func (s *State) remove(name string) error {
	i, ok := s.find(name)
	if !ok {
		return ErrNotMember
	}
	if len(s.members) == 1 {
		return ErrLastMember
	}
	if s.members[i].Role == RoleAdmin && s.admins() == 1 {
		return ErrLastAdmin
	}
	s.members = append(s.members[:i], s.members[i+1:]...)
	return nil
}

func (s *State) approve(req []byte) error {
	if s.typ != Request {
		return fmt.Errorf("group is %s, not request", s.typ)
	}
	j, err := ParseJoinRequest(req)
	if err != nil {
		return err
	}
	if j.GroupID != s.id {
		return ErrWrongGroup
	}
	return s.add(j.Member)
}
