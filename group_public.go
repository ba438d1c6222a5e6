package hush

// Public rooms (doc/API.md §6): every change of a public room an admin
// makes or receives relists its state on the server, signed by the
// admin's identity key; anyone lists them and joins without approval by
// signing the self-join change on the listed state and sending it to the
// members over the pairwise sessions. A join that loses a race is answered
// by the members with the changes that beat it (lostJoin) and remade on
// top; one no member could answer is found from the listing and made again
// (confirmJoins).

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/proto"
)

// ErrBadListing: a public room's listing is not signed by one of its
// admins under the key the directory holds for it.
var ErrBadListing = errors.New("public room listing does not verify")

// RoomInfo is one listed public room.
type RoomInfo struct {
	ID      string // 32 hex characters
	Name    string
	Members int
	Version uint64
}

// PublicRooms lists the public rooms the server knows.
func (c *Client) PublicRooms(ctx context.Context) ([]RoomInfo, error) {
	rs, err := c.api.PublicRooms(ctx)
	if err != nil {
		return nil, serverErr(err)
	}
	out := make([]RoomInfo, 0, len(rs))
	for _, r := range rs {
		out = append(out, RoomInfo{ID: r.ID, Name: r.Name, Members: r.Members, Version: r.Version})
	}
	return out, nil
}

// publishRoom relists st when it is a public room this user administers.
func (c *Client) publishRoom(ctx context.Context, st *group.State) error {
	if st.Type() != group.Public || !st.IsAdmin(c.prof.Username) {
		return nil
	}
	id := st.ID()
	p := &proto.Publication{RoomID: hex.EncodeToString(id[:]), Name: st.Name(), State: st.Marshal()}
	p.Username, p.Timestamp = c.prof.Username, c.now().Unix()
	err := c.api.PublishRoom(ctx, c.id, p)
	if apiclient.IsCode(err, "stale") {
		return nil // another admin listed this version or a newer one
	}
	if err != nil {
		return fmt.Errorf("listing #%s: %w", st.Name(), serverErr(err))
	}
	return nil
}

// republishStale relists the public rooms this user administers whose
// state moved on (a member joined or left) since this client listed them.
func (c *Client) republishStale(ctx context.Context) {
	var stale []*group.State
	_ = c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if st, err := r.current(); err == nil && !r.Gone && st.Type() == group.Public &&
				st.IsAdmin(c.prof.Username) && st.Version() > r.Published {
				stale = append(stale, st)
			}
		}
		return nil
	})
	for _, st := range stale {
		if c.publishRoom(ctx, st) != nil {
			continue // best effort: retried after the next envelope
		}
		_ = c.withGroup(ctx, st.Name(), func(_ *localstore.Tx, r *groupRecord) error {
			r.Published = max(r.Published, st.Version())
			return nil
		})
	}
}

// JoinPublic joins the public room with this id (or, when unambiguous,
// name) without approval: it fetches and verifies the listing, signs the
// self-join change on the listed state, sends it to every member and
// hands them this device's sender key.
func (c *Client) JoinPublic(ctx context.Context, room string) (*GroupInfo, error) {
	id, err := c.resolveRoom(ctx, groupName(room))
	if err != nil {
		return nil, err
	}
	st, err := c.verifiedListing(ctx, id)
	if err != nil {
		return nil, err
	}
	ch, next, err := group.Propose(st, c.prof.Username, c.id, group.Op{Kind: group.KindJoin, Member: c.selfMember()})
	if err != nil {
		return nil, fmt.Errorf("joining #%s: %w", st.Name(), err)
	}
	c.mu.Lock()
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		gid := st.ID()
		r := findByID(recs, gid)
		if r != nil && !r.Gone {
			return fmt.Errorf("you are already in #%s", r.Name)
		}
		if r != nil {
			// A listing older than what this user saw of the room (it was
			// removed, say) is refused: a server must not hand it an old
			// state to join on.
			if known, err := r.current(); err == nil && st.Version() < known.Version() {
				return fmt.Errorf("%w: #%s is listed at version %d, this user saw version %d",
					ErrBadListing, st.Name(), st.Version(), known.Version())
			}
			recs = slices.DeleteFunc(recs, func(x *groupRecord) bool { return x == r })
		}
		if _, err := findByName(recs, st.Name()); err == nil {
			return fmt.Errorf("you are already in a group called #%s", st.Name())
		}
		recs = append(recs, &groupRecord{ID: gid[:], Name: st.Name(), Base: st.Marshal(), Changes: [][]byte{ch.Marshal()},
			Joining: true})
		return saveGroups(tx, recs)
	})
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := c.announce(ctx, st, next, ch); err != nil {
		return c.groupInfoNow(ctx, next), err
	}
	return c.groupInfoNow(ctx, next), c.distribute(ctx, next.Name())
}

// resolveRoom turns a room name into its id; 32 hex characters are an id.
func (c *Client) resolveRoom(ctx context.Context, room string) (string, error) {
	if b, err := hex.DecodeString(room); err == nil && len(b) == group.IDSize {
		return room, nil
	}
	rs, err := c.PublicRooms(ctx)
	if err != nil {
		return "", err
	}
	id := ""
	for _, r := range rs {
		if r.Name == room {
			if id != "" {
				return "", fmt.Errorf("several public rooms are called #%s; join one by its id", room)
			}
			id = r.ID
		}
	}
	if id == "" {
		return "", fmt.Errorf("%w: no public room called #%s", ErrUnknownGroup, room)
	}
	return id, nil
}

// verifiedListing fetches a room's listing and returns its state once
// the listing is shown to be signed by an admin of that state whose key
// is the one the directory (and this user's pinned contacts) hold.
func (c *Client) verifiedListing(ctx context.Context, id string) (*group.State, error) {
	sr, err := c.api.PublicRoom(ctx, id)
	if err != nil {
		return nil, serverErr(err)
	}
	var p proto.Publication
	dec := json.NewDecoder(bytes.NewReader(sr.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p.Op != proto.OpPublish || p.RoomID != id {
		return nil, fmt.Errorf("%w: payload is not a listing of %s", ErrBadListing, id)
	}
	st, err := group.ParseState(p.State)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadListing, err)
	}
	gid := st.ID()
	admin, ok := st.Member(p.Username)
	if st.Type() != group.Public || hex.EncodeToString(gid[:]) != id || !ok || admin.Role != group.RoleAdmin {
		return nil, fmt.Errorf("%w: not a public room listed by one of its admins", ErrBadListing)
	}
	rec, err := c.refreshContact(ctx, p.Username)
	if err != nil {
		return nil, err
	}
	if rec.Changed || !bytes.Equal(rec.IdentityKey, admin.Identity[:]) {
		return nil, fmt.Errorf("%w: %s's key in the room is not the one pinned here", ErrBadListing, p.Username)
	}
	key, err := identity.NewIdentityKey(admin.Identity[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadListing, err)
	}
	if err := key.Verify(proto.LabelRequest, sr.Payload, sr.Signature); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadListing, err)
	}
	return st, nil
}

// lostJoin is a public-room join that lost a race at this member. Its
// author is not in the winning state, so no member would tell it: this
// member sends it the changes from the lost version on, the author's
// client applies them (the winner displaces its join) and remakes its
// join on top (doc/SPEC.md §11.2, lost races).
type lostJoin struct {
	group   group.ID
	user    string
	version uint64
}

// noteLostJoins records, after r received ch (dropped and err as
// groupRecord.receive returned them), the joins that lost here and whose
// authors are not members of the winning state. Called with c.mu held.
func (c *Client) noteLostJoins(r *groupRecord, ch *group.Change, dropped []*group.Change, err error) {
	lost := dropped
	if err != nil {
		if !errors.Is(err, group.ErrLostRace) {
			return
		}
		lost = []*group.Change{ch}
	}
	cur, cerr := r.current()
	if cerr != nil {
		return
	}
	for _, l := range lost {
		if l.Kind != group.KindJoin || l.Signer == c.prof.Username {
			continue
		}
		if _, ok := cur.Member(l.Signer); ok {
			continue
		}
		lj := lostJoin{group: cur.ID(), user: l.Signer, version: l.Version}
		if !slices.Contains(c.lostJoins, lj) {
			c.lostJoins = append(c.lostJoins, lj)
		}
	}
}

// tellLostJoins sends the authors of lost joins the changes that beat
// them and those built on top, over their pairwise sessions. Best effort:
// a join that loses again is noted again.
func (c *Client) tellLostJoins(ctx context.Context) {
	c.mu.Lock()
	todo := c.lostJoins
	c.lostJoins = nil
	c.mu.Unlock()
	sent := false
	for _, lj := range todo {
		var since []*group.Change
		var name string
		_ = c.st.View(ctx, func(tx *localstore.Tx) error {
			recs, err := loadGroups(tx)
			if err != nil {
				return err
			}
			r := findByID(recs, lj.group)
			if r == nil || r.Gone {
				return nil
			}
			l, err := r.log()
			if err != nil {
				return err
			}
			since, name = l.Since(lj.version), r.Name
			return nil
		})
		for _, ch := range since {
			if c.queueControl(ctx, lj.user, encodeGroupChange(nil, ch), "change of #"+name+" for "+lj.user) != nil {
				break
			}
			sent = true
		}
	}
	if sent {
		_ = c.flushNow(ctx)
	}
}

// checkJoin refuses a public-room join that does not come from its
// joiner, under the joiner's key. A join names its own signer and key, so
// anyone could sign one under a free name with any key: a member accepts
// it only over the joiner's own pairwise session (the session
// authenticates the sender as that user), with the key this user pinned
// for that name (the one the session was set up under). The one exception
// is the author of a join that lost a race here: the members then send it
// the changes that beat its join (lostJoin), joins of others among them,
// which it takes at or below the version of its own join.
func (c *Client) checkJoin(tx *localstore.Tx, recs []*groupRecord, from envelope.Address, body []byte) error {
	_, ch, err := decodeGroupChange(body)
	if err != nil || ch.Kind != group.KindJoin {
		return nil // receiveChange reports what does not decode
	}
	if pinned, err := getContact(tx, ch.Signer); err == nil &&
		(!bytes.Equal(pinned.IdentityKey, ch.Member.Identity[:]) || pinned.Changed) {
		return fmt.Errorf("%w: %s joins under another key than the one pinned here", group.ErrForged, ch.Signer)
	}
	if ch.Signer == from.User {
		return nil
	}
	r := findByID(recs, ch.GroupID)
	if r != nil && !r.Gone && ch.Version <= r.ownJoin(c.prof.Username) {
		// Only a member of the room as this user holds it answers a
		// lost join.
		if st, err := r.current(); err == nil && st.HasDevice(from.User, from.Device) {
			return nil
		}
	}
	return fmt.Errorf("%w: a join for %s sent by %s", group.ErrForged, ch.Signer, from.User)
}

// ownJoin is the version of user's own join among the record's changes (0
// when there is none).
func (r *groupRecord) ownJoin(user string) uint64 {
	var v uint64
	for _, b := range r.Changes {
		if ch, err := group.ParseChange(b); err == nil && ch.Kind == group.KindJoin && ch.Signer == user {
			v = ch.Version
		}
	}
	return v
}

// sharedKeyID reports (group.ErrSharedKeyID) a sender key whose key id
// another member device handed over too: one of them copied the other's.
// Both are kept; the keyring attributes a message only to the chain it
// opens under.
func sharedKeyID(ring *group.Keyring, d *group.Distribution) error {
	cl := ring.Claimants(d.KeyID)
	if len(cl) < 2 {
		return nil
	}
	names := make([]string, len(cl))
	for i, a := range cl {
		names[i] = fmt.Sprintf("%s (device %d)", a.User, a.Device)
	}
	return fmt.Errorf("%w: %s", group.ErrSharedKeyID, strings.Join(names, ", "))
}

// confirmJoins checks the public-room joins of this user not yet seen
// taken against the rooms' listings. A join is taken once a change is
// built on it or the listing shows this user under its key. A listing at
// or past the join's version without this user means the join was lost
// where no member could tell (lostJoin): this user joins again on the
// listed state. Best effort, after a sync.
func (c *Client) confirmJoins(ctx context.Context) {
	type joining struct {
		id      group.ID
		version uint64
	}
	var todo []joining
	_ = c.st.Update(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		changed := false
		for _, r := range recs {
			if !r.Joining || r.Gone {
				continue
			}
			v := r.ownJoin(c.prof.Username)
			if v == 0 || r.builtOn(v) {
				r.Joining, changed = false, true
				continue
			}
			todo = append(todo, joining{id: group.ID(r.ID), version: v})
		}
		if !changed {
			return nil
		}
		return saveGroups(tx, recs)
	})
	for _, j := range todo {
		st, err := c.verifiedListing(ctx, hex.EncodeToString(j.id[:]))
		if err != nil || st.Version() < j.version {
			continue // not listed this far yet: no admin has been online
		}
		if m, ok := st.Member(c.prof.Username); ok && bytes.Equal(m.Identity[:], c.id.Public().Bytes()) {
			c.takeListed(ctx, j.id, j.version, st)
			continue
		}
		_ = c.rejoin(ctx, j.id, j.version, st)
	}
}

// takeListed ends the wait of a join (at version v) that the listing st
// shows taken. When this user holds another state at the listed version
// (it remade its join on a listing an admin rewrote since), it takes the
// listed state, signed by an admin, as its own, as a member resynchronises
// from an admin.
func (c *Client) takeListed(ctx context.Context, id group.ID, v uint64, st *group.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.st.Update(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		r := findByID(recs, id)
		if r == nil || r.Gone || !r.Joining || r.ownJoin(c.prof.Username) != v {
			return nil
		}
		r.Joining = false
		l, err := r.log()
		if err != nil {
			return err
		}
		if held, ok := l.StateAt(st.Version()); !ok || held.Hash() != st.Hash() {
			old := l.Current()
			r.Base, r.Changes, r.Lost, r.Name = st.Marshal(), nil, nil, st.Name()
			if err := r.afterChange(c.prof.Username, old, st); err != nil {
				return err
			}
		}
		return saveGroups(tx, recs)
	})
}

// builtOn reports whether the record holds a change after version v.
func (r *groupRecord) builtOn(v uint64) bool {
	for _, b := range r.Changes {
		if ch, err := group.ParseChange(b); err == nil && ch.Version > v {
			return true
		}
	}
	return false
}

// rejoin replaces the record of a join that was lost (still at version v)
// with a join on st, the room as listed now, and sends it.
func (c *Client) rejoin(ctx context.Context, id group.ID, v uint64, st *group.State) error {
	ch, next, err := group.Propose(st, c.prof.Username, c.id, group.Op{Kind: group.KindJoin, Member: c.selfMember()})
	if err != nil {
		return err
	}
	c.mu.Lock()
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		r := findByID(recs, id)
		if r == nil || r.Gone || !r.Joining || r.ownJoin(c.prof.Username) != v || r.builtOn(v) {
			return errors.New("client: the join moved on meanwhile")
		}
		*r = groupRecord{ID: r.ID, Name: st.Name(), Base: st.Marshal(), Changes: [][]byte{ch.Marshal()}, Joining: true}
		return saveGroups(tx, recs)
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.announce(ctx, st, next, ch); err != nil {
		return err
	}
	return c.distribute(ctx, next.Name())
}
