package group

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"

	"github.com/hush-chat/hush/internal/identity"
)

// Create makes a new group with a random id: creator (an admin, whose
// identity key is priv's) and the other first members. It returns the
// state at version 1 and the signed create change the other members apply
// with Apply(nil, change).
func Create(priv *identity.IdentityPrivateKey, creator Member, name string, typ Type, others []Member) (*State, *Change, error) {
	creator = creator.clone()
	creator.Role = RoleAdmin
	members := append([]Member{creator}, others...)
	for i := range members {
		members[i] = members[i].clone()
	}
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	var id ID
	rand.Read(id[:])
	c := &Change{GroupID: id, Version: 1, Signer: creator.Name, Op: Op{Kind: KindCreate, Name: name, Type: typ, Members: members}}
	if err := checkOp(&c.Op); err != nil {
		return nil, nil, err
	}
	c.sign(priv)
	st, err := Apply(nil, c)
	if err != nil {
		return nil, nil, err
	}
	return st, c, nil
}

// Propose makes the change op on st, signed by member signer with priv,
// and returns it with the state it leads to. The change is checked as
// every member will check it, so an author never sends a change that
// members refuse.
func Propose(st *State, signer string, priv *identity.IdentityPrivateKey, op Op) (*Change, *State, error) {
	if op.Kind == KindCreate {
		return nil, nil, fmt.Errorf("%w: use Create", ErrInvalid)
	}
	if err := checkOp(&op); err != nil {
		return nil, nil, err
	}
	c := &Change{GroupID: st.id, Version: st.version + 1, Prev: st.Hash(), Signer: signer, Op: cloneOp(op)}
	c.sign(priv)
	next, err := Apply(st, c)
	if err != nil {
		return nil, nil, err
	}
	return c, next, nil
}

// Rebase remakes lost, a change that lost a race (ErrLostRace) or was
// dropped by Log.Receive, on top of st: same op, new version and prev,
// signed again by its author. It fails with ErrInvalid when the op no
// longer makes sense (the winner already added the same member, say): the
// author then has nothing to resend.
func Rebase(st *State, lost *Change, priv *identity.IdentityPrivateKey) (*Change, *State, error) {
	return Propose(st, lost.Signer, priv, lost.Op)
}

// NeedsRotation reports whether a device that could read the group at old
// can no longer at next (a member left or was removed, or dropped a
// device). Every remaining member then makes a new Sender for next's
// version and distributes it to the remaining devices only.
func NeedsRotation(old, next *State) bool {
	for _, m := range old.members {
		for _, d := range m.Devices {
			if !next.HasDevice(m.Name, d) {
				return true
			}
		}
	}
	return false
}

// checkOp checks the fields of op that do not depend on a state, so that
// an invalid op is refused before it is signed (the encoder would
// otherwise write a value the decoder refuses).
func checkOp(op *Op) error {
	ok := true
	switch op.Kind {
	case KindCreate:
		ok = validName(op.Name) && op.Type.valid() && len(op.Members) > 0 && len(op.Members) <= MaxMembers
		for i := range op.Members {
			ok = ok && validMember(&op.Members[i]) && (i == 0 || op.Members[i-1].Name < op.Members[i].Name)
		}
	case KindAdd, KindJoin:
		ok = validMember(&op.Member)
	case KindRemove, KindPromote:
		ok = validName(op.Target)
	case KindLeave:
	case KindRename:
		ok = validName(op.Name)
	case KindApprove:
		ok = len(op.Request) <= maxJoinRequestSize
	case KindDevices:
		ok = validDevices(op.Devices)
	default:
		ok = false
	}
	if !ok {
		return fmt.Errorf("%w: malformed %s", ErrInvalid, op.Kind)
	}
	return nil
}

func cloneOp(op Op) Op {
	ms := make([]Member, len(op.Members))
	for i, m := range op.Members {
		ms[i] = m.clone()
	}
	op.Members = ms
	op.Member = op.Member.clone()
	op.Devices = slices.Clone(op.Devices)
	op.Request = slices.Clone(op.Request)
	return op
}
