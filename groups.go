package hush

// Groups (doc/SPEC.md §11.2, §12). A group's state (name, type, members,
// admins) changes only through changes signed by an admin (or by the member
// itself to leave or join a public room); they travel to every member over
// the pairwise sessions and each member applies them through a group.Log,
// refusing any change a current admin did not sign. Messages are encrypted
// once under the sender's chain (sender keys, handed out over the pairwise
// sessions) and uploaded once through the relay's fan-out. When anyone
// leaves or is removed, every remaining member starts a new chain with its
// next message and hands it only to the remaining members.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
)

// ErrUnknownGroup: this profile is in no group of that name.
var ErrUnknownGroup = errors.New("unknown group")

// GroupInfo describes a group as this member holds it.
type GroupInfo struct {
	ID        string // 32 hex characters
	Name      string // without the leading '#'
	Type      GroupType
	Version   uint64 // the state's version: one more per change
	StateHash string // hex SHA-256 of the state; equal at members that agree
	Members   []GroupMember
	Admin     bool // this user is an admin
	// Warnings name the members whose key in the group differs from the
	// key this user pinned for them (ErrGroupKeyDiffers).
	Warnings []error
}

// GroupMember is one member of a group.
type GroupMember struct {
	Name    string
	Admin   bool
	Devices []uint32
	// Fingerprint is the short form (doc/SPEC.md §3.3) of the identity
	// key the group's state names for this member: the key the group's
	// sender keys and changes are checked against.
	Fingerprint string
	// KeyState compares that key with what this user knows of the member.
	KeyState KeyState
}

// KeyState is how a group member's key relates to this user's contacts.
type KeyState int

const (
	// KeyUnverified: the key is the pinned one (or none is pinned yet),
	// and the user has not compared safety numbers.
	KeyUnverified KeyState = iota
	// KeyVerified: the key is the pinned one and the user verified it.
	KeyVerified
	// KeyDiffers: the user pinned another key for this person. Either the
	// member changed keys or whoever added them was served another key.
	KeyDiffers
	// KeySelf: this user.
	KeySelf
)

func (k KeyState) String() string {
	switch k {
	case KeyUnverified:
		return "unverified"
	case KeyVerified:
		return "verified"
	case KeyDiffers:
		return "KEY DIFFERS FROM PINNED"
	case KeySelf:
		return "you"
	}
	return "unknown"
}

// ErrGroupKeyDiffers: a group names a member with another identity key
// than the one this user pinned for that person.
var ErrGroupKeyDiffers = errors.New("group member's key differs from the pinned key")

// groupInfo describes st; pinned returns the stored contact of a user
// (nil if none).
func (c *Client) groupInfo(st *group.State, pinned func(user string) *contactRecord) *GroupInfo {
	h := st.Hash()
	id := st.ID()
	gi := &GroupInfo{ID: hex.EncodeToString(id[:]), Name: st.Name(), Type: GroupType(st.Type()), Version: st.Version(),
		StateHash: hex.EncodeToString(h[:]), Admin: st.IsAdmin(c.prof.Username)}
	for _, m := range st.Members() {
		gm := GroupMember{Name: m.Name, Admin: m.Role == group.RoleAdmin, Devices: m.Devices}
		if k, err := identity.NewIdentityKey(m.Identity[:]); err == nil {
			gm.Fingerprint = identity.Fingerprint(k)
		}
		switch rec := pinned(m.Name); {
		case m.Name == c.prof.Username:
			gm.KeyState = KeySelf
			if !bytes.Equal(m.Identity[:], c.id.Public().Bytes()) {
				gm.KeyState = KeyDiffers
			}
		case rec == nil:
			gm.KeyState = KeyUnverified
		case !bytes.Equal(m.Identity[:], rec.IdentityKey):
			gm.KeyState = KeyDiffers
		case rec.Verified && !rec.Changed:
			gm.KeyState = KeyVerified
		}
		if gm.KeyState == KeyDiffers {
			gi.Warnings = append(gi.Warnings, fmt.Errorf("%w: %s's key in #%s differs from the key you pinned for %s",
				ErrGroupKeyDiffers, m.Name, st.Name(), m.Name))
		}
		gi.Members = append(gi.Members, gm)
	}
	return gi
}

// txPins looks contacts up in tx.
func txPins(tx *localstore.Tx) func(string) *contactRecord {
	return func(user string) *contactRecord {
		r, err := getContact(tx, user)
		if err != nil {
			return nil
		}
		return r
	}
}

// groupInfoNow describes st with the contacts as stored now.
func (c *Client) groupInfoNow(ctx context.Context, st *group.State) *GroupInfo {
	var gi *GroupInfo
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		gi = c.groupInfo(st, txPins(tx))
		return nil
	})
	if err != nil {
		gi = c.groupInfo(st, func(string) *contactRecord { return nil })
	}
	return gi
}

// selfMember is this user as a group member: its identity and device.
func (c *Client) selfMember() group.Member {
	return group.Member{Name: c.prof.Username, Identity: [32]byte(c.id.Public().Bytes()), Role: group.RoleMember,
		Devices: []uint32{c.dev.ID()}}
}

// memberFor looks user up and returns it as a group member with its
// pinned identity key and its certified devices.
func (c *Client) memberFor(ctx context.Context, user string) (group.Member, error) {
	rec, err := c.refreshContact(ctx, user)
	if err != nil {
		return group.Member{}, err
	}
	if rec.Changed {
		return group.Member{}, fmt.Errorf("%w: %s has a new identity key; verify it first", ErrIdentityChanged, user)
	}
	if len(rec.Devices) == 0 || len(rec.IdentityKey) != 32 {
		return group.Member{}, fmt.Errorf("%w: %s has no usable device", ErrUnknownUser, user)
	}
	m := group.Member{Name: user, Identity: [32]byte(rec.IdentityKey), Role: group.RoleMember}
	for _, d := range rec.Devices {
		m.Devices = append(m.Devices, d.ID)
	}
	slices.Sort(m.Devices)
	m.Devices = slices.Compact(m.Devices)
	if len(m.Devices) > group.MaxDevices {
		m.Devices = m.Devices[:group.MaxDevices]
	}
	return m, nil
}

// CreateGroup creates a group with this user as its admin and members as
// its other first members, and tells each of them. name is used with or
// without a leading '#'.
func (c *Client) CreateGroup(ctx context.Context, name string, typ GroupType, members []string) (*GroupInfo, error) {
	name = groupName(name)
	var others []group.Member
	for _, u := range members {
		if u == c.prof.Username || slices.ContainsFunc(others, func(m group.Member) bool { return m.Name == u }) {
			continue
		}
		m, err := c.memberFor(ctx, u)
		if err != nil {
			return nil, err
		}
		others = append(others, m)
	}
	self := c.selfMember()
	if devs, err := c.ownGroupDevices(ctx, 0); err == nil {
		self.Devices = devs // the account's other devices read the group too
	}
	st, ch, err := group.Create(c.id, self, name, group.Type(typ), others)
	if err != nil {
		return nil, fmt.Errorf("creating #%s: %w", name, err)
	}
	c.mu.Lock()
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		if _, err := findByName(recs, name); err == nil {
			return fmt.Errorf("you are already in a group called #%s", name)
		}
		id := st.ID()
		recs = append(recs, &groupRecord{ID: id[:], Name: name, Base: st.Marshal()})
		return saveGroups(tx, recs)
	})
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return c.groupInfoNow(ctx, st), errors.Join(c.announce(ctx, nil, st, ch), c.publishRoom(ctx, st))
}

// changeGroup signs op on the group's current state, applies it and sends
// it to every member before and after the change.
func (c *Client) changeGroup(ctx context.Context, name string, op group.Op) (*GroupInfo, error) {
	var old, next *group.State
	var ch *group.Change
	err := c.withGroup(ctx, name, func(_ *localstore.Tx, r *groupRecord) error {
		cur, err := r.current()
		if err != nil {
			return err
		}
		if ch, _, err = group.Propose(cur, c.prof.Username, c.id, op); err != nil {
			if errors.Is(err, group.ErrForged) {
				return fmt.Errorf("only an admin of #%s may do that: %w", r.Name, err)
			}
			return fmt.Errorf("#%s: %w", r.Name, err)
		}
		if old, next, _, err = r.receive(ch); err != nil {
			return err
		}
		return r.afterChange(c.prof.Username, old, next)
	})
	if err != nil {
		return nil, err
	}
	return c.groupInfoNow(ctx, next), errors.Join(c.announce(ctx, old, next, ch), c.publishRoom(ctx, next))
}

// announce sends ch to every member of old and next and to this user's
// other devices; a member that next brings in also gets old, the state ch
// applies to.
func (c *Client) announce(ctx context.Context, old, next *group.State, ch *group.Change) error {
	var users []string
	for _, st := range []*group.State{old, next} {
		if st == nil {
			continue
		}
		for _, m := range st.Members() {
			if m.Name != c.prof.Username && !slices.Contains(users, m.Name) {
				users = append(users, m.Name)
			}
		}
	}
	var errs []error
	// This user's other devices the states list follow the group like any
	// member device.
	if own := ownListed(c.prof.Username, c.dev.ID(), old, next); len(own) > 0 {
		_, err := c.queueControlTo(ctx, c.prof.Username, encodeGroupChange(nil, ch), "change of #"+next.Name()+" for own devices",
			func(d uint32) bool { return slices.Contains(own, d) })
		if err != nil {
			errs = append(errs, fmt.Errorf("telling this account's other devices: %w", err))
		}
	}
	for _, u := range users {
		var prev *group.State
		if old != nil {
			if _, ok := old.Member(u); !ok {
				prev = old
			}
		}
		if err := c.queueControl(ctx, u, encodeGroupChange(prev, ch), "change of #"+next.Name()+" for "+u); err != nil {
			errs = append(errs, fmt.Errorf("telling %s: %w", u, err))
		}
	}
	// Queued changes are delivered now or retried until the server takes
	// them: a member must not stay on an old version for want of a retry.
	errs = append(errs, c.flushNow(ctx))
	return errors.Join(errs...)
}

// AddMember adds user to the group (admins only).
func (c *Client) AddMember(ctx context.Context, name, user string) (*GroupInfo, error) {
	m, err := c.memberFor(ctx, user)
	if err != nil {
		return nil, err
	}
	return c.changeGroup(ctx, name, group.Op{Kind: group.KindAdd, Member: m})
}

// RemoveMember removes user from the group (admins only). The remaining
// members start new sender keys, so user cannot read what follows.
func (c *Client) RemoveMember(ctx context.Context, name, user string) (*GroupInfo, error) {
	return c.changeGroup(ctx, name, group.Op{Kind: group.KindRemove, Target: user})
}

// PromoteMember makes user an admin of the group (admins only). The
// change names the key this user pinned for user (as the directory serves
// it): it does not apply to someone else who took the name in the group
// under another key.
func (c *Client) PromoteMember(ctx context.Context, name, user string) (*GroupInfo, error) {
	// The key pinned for user, as stored: a promotion made offline is
	// queued like any change.
	rec, err := c.storedOrFetched(ctx, user)
	if err != nil {
		return nil, err
	}
	if rec.Changed {
		return nil, fmt.Errorf("%w: %s has a new identity key; verify it first", ErrIdentityChanged, user)
	}
	if len(rec.IdentityKey) != 32 {
		return nil, fmt.Errorf("%w: %s has no usable key", ErrUnknownUser, user)
	}
	return c.changeGroup(ctx, name, group.Op{Kind: group.KindPromote, Target: user, Identity: [32]byte(rec.IdentityKey)})
}

// LeaveGroup leaves the group. Its history stays readable here.
func (c *Client) LeaveGroup(ctx context.Context, name string) error {
	_, err := c.changeGroup(ctx, name, group.Op{Kind: group.KindLeave})
	return err
}

// Groups lists the groups this user is in.
func (c *Client) Groups(ctx context.Context) ([]GroupInfo, error) {
	var out []GroupInfo
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Gone {
				continue
			}
			st, err := r.current()
			if err != nil {
				return err
			}
			out = append(out, *c.groupInfo(st, txPins(tx)))
		}
		return nil
	})
	return out, err
}

// GroupInfo describes the group called name.
func (c *Client) GroupInfo(ctx context.Context, name string) (*GroupInfo, error) {
	var gi *GroupInfo
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		r, err := findByName(recs, name)
		if err != nil {
			return err
		}
		st, err := r.current()
		if err != nil {
			return err
		}
		gi = c.groupInfo(st, txPins(tx))
		return nil
	})
	return gi, err
}
