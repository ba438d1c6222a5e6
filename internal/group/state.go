package group

import (
	"crypto/sha256"
	"slices"
	"strings"

	"github.com/hush-chat/hush/internal/wire"
)

const (
	stateVersion = 0x01
	stateStruct  = "group state"
	// maxStateSize bounds an encoded state: the fixed part and MaxMembers
	// members with MaxDevices devices and the longest names.
	maxStateSize = 1 + IDSize + 1 + MaxNameLen + 1 + 8 + 32 + 2 +
		MaxMembers*(1+MaxNameLen+32+1+1+4*MaxDevices)
)

// State is a group's membership at one version. A State is immutable: Apply
// returns a new one. It holds no secret (but it does say who is in the
// group, so clients store it as they store contacts).
type State struct {
	id      ID
	name    string
	typ     Type
	version uint64
	prev    [32]byte
	members []Member // sorted by Name (byte order), unique
}

// ID returns the group id.
func (s *State) ID() ID { return s.id }

// Name returns the group name.
func (s *State) Name() string { return s.name }

// Type returns the group's joining policy.
func (s *State) Type() Type { return s.typ }

// Version returns the state's version: 1 at creation, +1 per change.
func (s *State) Version() uint64 { return s.version }

// Prev returns the hash of the previous state (zero for version 1).
func (s *State) Prev() [32]byte { return s.prev }

// Members returns a copy of the members, sorted by name.
func (s *State) Members() []Member {
	out := make([]Member, len(s.members))
	for i, m := range s.members {
		out[i] = m.clone()
	}
	return out
}

// Member returns the member called name.
func (s *State) Member(name string) (Member, bool) {
	i, ok := s.find(name)
	if !ok {
		return Member{}, false
	}
	return s.members[i].clone(), true
}

// IsAdmin reports whether name is an admin of the group.
func (s *State) IsAdmin(name string) bool {
	i, ok := s.find(name)
	return ok && s.members[i].Role == RoleAdmin
}

// HasDevice reports whether device d of member name receives the group's
// messages; a client accepts a sender key distribution only from one.
func (s *State) HasDevice(name string, d uint32) bool {
	i, ok := s.find(name)
	return ok && s.members[i].HasDevice(d)
}

func (s *State) find(name string) (int, bool) {
	return slices.BinarySearchFunc(s.members, name, func(m Member, n string) int {
		return strings.Compare(m.Name, n)
	})
}

func (s *State) admins() int {
	n := 0
	for _, m := range s.members {
		if m.Role == RoleAdmin {
			n++
		}
	}
	return n
}

// clone returns a deep copy, the starting point of a change.
func (s *State) clone() *State {
	c := *s
	c.members = make([]Member, len(s.members))
	for i, m := range s.members {
		c.members[i] = m.clone()
	}
	return &c
}

// Marshal returns the encoding:
//
//	u8(0x01) || id (16) || bytes8(name) || u8(type) || u64(version) ||
//	prev (32) || u16(count) || member * count
func (s *State) Marshal() []byte {
	w := wire.NewWriter(make([]byte, 0, 128+len(s.members)*48))
	w.U8(stateVersion)
	w.Fixed(s.id[:])
	w.Bytes8([]byte(s.name))
	w.U8(uint8(s.typ))
	w.U64(s.version)
	w.Fixed(s.prev[:])
	w.U16(uint16(len(s.members)))
	for i := range s.members {
		writeMember(w, &s.members[i])
	}
	return w.Bytes()
}

// Hash returns SHA-256("hush/v1 group state" || 0x00 || Marshal()): the
// prev of the next change, and what members compare to check they agree.
func (s *State) Hash() [32]byte {
	h := sha256.New()
	h.Write([]byte(labelStateHash))
	h.Write([]byte{0})
	h.Write(s.Marshal())
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ParseState decodes a State. It refuses what no change could produce:
// no member, no admin, members out of order or repeated.
func ParseState(b []byte) (*State, error) {
	if len(b) > maxStateSize {
		return nil, wire.Errorf(stateStruct, "", wire.ErrTooLarge, "%d bytes, limit %d", len(b), maxStateSize)
	}
	r := wire.NewReader(stateStruct, b)
	r.Version(stateVersion)
	s := &State{}
	copy(s.id[:], r.Fixed("id", IDSize))
	s.name = readName(r, "name")
	s.typ = Type(r.U8("type"))
	if r.Err() == nil && !s.typ.valid() {
		r.Fail("type", wire.ErrMalformed, "unknown group type")
	}
	s.version = r.U64("version")
	if r.Err() == nil && s.version == 0 {
		r.Fail("version", wire.ErrMalformed, "version 0 is reserved")
	}
	copy(s.prev[:], r.Fixed("prev", 32))
	s.members = readMembers(r, "members")
	if err := r.Done(); err != nil {
		return nil, err
	}
	if s.admins() == 0 {
		return nil, wire.Errorf(stateStruct, "members", wire.ErrMalformed, "no admin")
	}
	return s, nil
}

// readMembers reads u16(count) || member * count, refusing an empty,
// oversized, unsorted or repeated list (one encoding per member set).
func readMembers(r *wire.Reader, field string) []Member {
	n := int(r.U16(field + ".count"))
	if r.Err() != nil {
		return nil
	}
	if n == 0 {
		r.Fail(field, wire.ErrMalformed, "no member")
		return nil
	}
	if n > MaxMembers {
		r.Fail(field, wire.ErrTooLarge, "too many members")
		return nil
	}
	ms := make([]Member, 0, min(n, r.Len()/38+1))
	for i := 0; i < n && r.Err() == nil; i++ {
		m := readMember(r, field)
		if r.Err() == nil && i > 0 && m.Name <= ms[i-1].Name {
			r.Fail(field, wire.ErrMalformed, "members must be sorted by name and unique")
		}
		ms = append(ms, m)
	}
	return ms
}
