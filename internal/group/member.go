package group

import (
	"crypto/ed25519"
	"slices"
	"unicode/utf8"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/wire"
)

// Member is one member of a group: a username, the user's identity key,
// the devices that receive group messages, and a role.
type Member struct {
	Name     string
	Identity [ed25519.PublicKeySize]byte
	Role     Role
	Devices  []uint32 // ascending, unique, no 0; 1..MaxDevices
}

// clone returns a copy that shares nothing with m.
func (m Member) clone() Member {
	m.Devices = slices.Clone(m.Devices)
	return m
}

// HasDevice reports whether d is one of m's devices.
func (m Member) HasDevice(d uint32) bool {
	_, ok := slices.BinarySearch(m.Devices, d)
	return ok
}

// key returns m's identity key for signature checks.
func (m Member) key() *identity.IdentityKey {
	k, err := identity.NewIdentityKey(m.Identity[:])
	if err != nil {
		// Identity is a fixed-size array of the right length.
		panic("group: identity key size: " + err.Error())
	}
	return k
}

// validName reports whether s may be a username or group name: 1 to
// MaxNameLen bytes of UTF-8 with no control character (so a name cannot
// rewrite a terminal or forge a line in a member list).
func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// validDevices reports whether ds is a strictly ascending list of 1 to
// MaxDevices non-zero device ids: one encoding per set.
func validDevices(ds []uint32) bool {
	if len(ds) == 0 || len(ds) > MaxDevices || ds[0] == 0 {
		return false
	}
	for i := 1; i < len(ds); i++ {
		if ds[i] <= ds[i-1] {
			return false
		}
	}
	return true
}

// writeMember appends bytes8(name) || identity (32) || u8(role) ||
// u8(n) || u32(device) * n.
func writeMember(w *wire.Writer, m *Member) {
	w.Bytes8([]byte(m.Name))
	w.Fixed(m.Identity[:])
	w.U8(uint8(m.Role))
	writeDevices(w, m.Devices)
}

func writeDevices(w *wire.Writer, ds []uint32) {
	w.U8(uint8(len(ds)))
	for _, d := range ds {
		w.U32(d)
	}
}

// readName reads a bytes8 name and refuses an invalid one.
func readName(r *wire.Reader, field string) string {
	b := r.Bytes8(field, MaxNameLen)
	if r.Err() == nil && !validName(string(b)) {
		r.Fail(field, wire.ErrMalformed, "empty, not UTF-8 or has control characters")
	}
	return string(b)
}

func readDevices(r *wire.Reader, field string) []uint32 {
	n := int(r.U8(field + ".count"))
	if r.Err() != nil {
		return nil
	}
	// The count is checked before the slice is made.
	if n > MaxDevices {
		r.Fail(field, wire.ErrTooLarge, "too many devices")
		return nil
	}
	ds := make([]uint32, n)
	for i := range ds {
		ds[i] = r.U32(field)
	}
	if r.Err() == nil && !validDevices(ds) {
		r.Fail(field, wire.ErrMalformed, "device ids must be non-zero, ascending and unique")
	}
	return ds
}

func readMember(r *wire.Reader, field string) Member {
	var m Member
	m.Name = readName(r, field+".name")
	copy(m.Identity[:], r.Fixed(field+".identity", ed25519.PublicKeySize))
	m.Role = Role(r.U8(field + ".role"))
	if r.Err() == nil && !m.Role.valid() {
		r.Fail(field+".role", wire.ErrMalformed, "unknown role")
	}
	m.Devices = readDevices(r, field+".devices")
	return m
}

// validMember checks what the decoder checks, for members built in memory.
func validMember(m *Member) bool {
	return validName(m.Name) && m.Role.valid() && validDevices(m.Devices)
}
