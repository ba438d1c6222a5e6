package group

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/wire"
)

const (
	changeVersion = 0x01
	changeStruct  = "group change"
	sigSize       = ed25519.SignatureSize
	// maxChangeSize bounds an encoded change; a create carries a whole
	// member list.
	maxChangeSize = maxStateSize + 256
)

// Kind is what a change does.
type Kind uint8

// Change kinds. Who may sign each is in Apply.
const (
	KindCreate  Kind = 1 // a new group: name, type, first members
	KindAdd     Kind = 2 // an admin adds Member
	KindRemove  Kind = 3 // an admin removes Target
	KindLeave   Kind = 4 // the signer leaves
	KindPromote Kind = 5 // an admin makes Target, holding key Identity, an admin
	KindRename  Kind = 6 // an admin renames the group to Name
	KindApprove Kind = 7 // an admin approves Request (a JoinRequest)
	KindJoin    Kind = 8 // the signer joins a public group as Member
	KindDevices Kind = 9 // the signer replaces its device list
)

func (k Kind) String() string {
	names := [...]string{"", "create", "add", "remove", "leave", "promote", "rename", "approve", "join", "devices"}
	if int(k) < len(names) && k != 0 {
		return names[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Op is what a change does, without where it applies or who signed it:
// the part Rebase carries over to a new state. Only the fields of Kind are
// used.
type Op struct {
	Kind    Kind
	Name    string   // create, rename: the group name
	Type    Type     // create
	Members []Member // create: every first member, the signer an admin
	Member  Member   // add, join: the new member
	Target  string   // remove, promote
	// Identity is the identity key the promoted member must have in the
	// state (promote): an admin promotes a key, not only a name, so a
	// newcomer who took a free name under its own key is not promoted in
	// place of the person the admin meant.
	Identity [32]byte
	Devices  []uint32 // devices: the signer's new device list
	Request  []byte   // approve: the encoded JoinRequest
}

// Change is one signed change of a group's state.
type Change struct {
	GroupID ID
	Version uint64   // the version the change makes
	Prev    [32]byte // hash of the state it applies to; zero for create
	Signer  string   // the member whose identity key signed
	Op
	Sig [sigSize]byte

	raw []byte // the encoding, set by Sign and ParseChange
}

// signed returns the encoding without the signature.
func (c *Change) signed() []byte {
	w := wire.NewWriter(nil)
	w.U8(changeVersion)
	w.Fixed(c.GroupID[:])
	w.U64(c.Version)
	w.Fixed(c.Prev[:])
	w.Bytes8([]byte(c.Signer))
	w.U8(uint8(c.Kind))
	switch c.Kind {
	case KindCreate:
		w.Bytes8([]byte(c.Name))
		w.U8(uint8(c.Type))
		w.U16(uint16(len(c.Members)))
		for i := range c.Members {
			writeMember(w, &c.Members[i])
		}
	case KindAdd, KindJoin:
		writeMember(w, &c.Member)
	case KindRemove:
		w.Bytes8([]byte(c.Target))
	case KindPromote:
		w.Bytes8([]byte(c.Target))
		w.Fixed(c.Identity[:])
	case KindRename:
		w.Bytes8([]byte(c.Name))
	case KindApprove:
		w.Bytes16(c.Request)
	case KindDevices:
		writeDevices(w, c.Devices)
	}
	return w.Bytes()
}

// sign sets Sig and the encoding. The op must be valid (checkOp).
func (c *Change) sign(priv *identity.IdentityPrivateKey) {
	body := c.signed()
	copy(c.Sig[:], priv.Sign(labelChange, body))
	c.raw = append(body, c.Sig[:]...)
}

// Marshal returns the encoding: the signed part, then the 64-byte
// signature. It is nil for a Change that was neither signed nor parsed.
func (c *Change) Marshal() []byte { return append([]byte(nil), c.raw...) }

// Hash returns SHA-256("hush/v1 group change hash" || 0x00 || Marshal()):
// the order of concurrent changes (the lower wins).
func (c *Change) Hash() [32]byte {
	h := sha256.New()
	h.Write([]byte(labelChangeHash))
	h.Write([]byte{0})
	h.Write(c.raw)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// verify checks the signature with the identity key k.
func (c *Change) verify(k [ed25519.PublicKeySize]byte) error {
	m := Member{Identity: k}
	if err := m.key().Verify(labelChange, c.raw[:len(c.raw)-sigSize], c.Sig[:]); err != nil {
		return fmt.Errorf("%w: %w", ErrForged, err)
	}
	return nil
}

// ParseChange decodes a Change. It checks the encoding only; Apply checks
// the signature and whether the change may be made.
func ParseChange(b []byte) (*Change, error) {
	if len(b) > maxChangeSize {
		return nil, wire.Errorf(changeStruct, "", wire.ErrTooLarge, "%d bytes, limit %d", len(b), maxChangeSize)
	}
	r := wire.NewReader(changeStruct, b)
	r.Version(changeVersion)
	c := &Change{}
	copy(c.GroupID[:], r.Fixed("group_id", IDSize))
	c.Version = r.U64("version")
	copy(c.Prev[:], r.Fixed("prev", 32))
	c.Signer = readName(r, "signer")
	c.Kind = Kind(r.U8("kind"))
	readBody(r, c)
	copy(c.Sig[:], r.Fixed("sig", sigSize))
	if err := r.Done(); err != nil {
		return nil, err
	}
	// version 0 is no state's version: refusing it keeps version-1 checks
	// from wrapping.
	if c.Version == 0 {
		return nil, wire.Errorf(changeStruct, "version", wire.ErrMalformed, "version 0 is reserved")
	}
	c.raw = append([]byte(nil), b...)
	return c, nil
}

func readBody(r *wire.Reader, c *Change) {
	switch c.Kind {
	case KindCreate:
		c.Name = readName(r, "name")
		c.Type = Type(r.U8("type"))
		if r.Err() == nil && !c.Type.valid() {
			r.Fail("type", wire.ErrMalformed, "unknown group type")
		}
		c.Members = readMembers(r, "members")
	case KindAdd, KindJoin:
		c.Member = readMember(r, "member")
	case KindRemove:
		c.Target = readName(r, "target")
	case KindPromote:
		c.Target = readName(r, "target")
		copy(c.Identity[:], r.Fixed("identity", 32))
	case KindLeave:
	case KindRename:
		c.Name = readName(r, "name")
	case KindApprove:
		c.Request = append([]byte(nil), r.Bytes16("request", maxJoinRequestSize)...)
	case KindDevices:
		c.Devices = readDevices(r, "devices")
	default:
		// An unknown kind is refused, never skipped: a member that cannot
		// apply a change must not sign or accept the next one.
		r.Fail("kind", wire.ErrMalformed, "unknown change kind")
	}
}
