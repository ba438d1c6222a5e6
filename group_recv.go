package hush

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/pqxdh"
)

func isGroupControl(kind uint8) bool {
	return kind == appKindGroupChange || kind == appKindGroupKey || kind == appKindJoinRequest || kind == appKindResend
}

// commitSession stores the session (and the prekey keyring a new session
// consumed) after a control message.
func commitSession(tx *localstore.Tx, user string, device uint32, sess sessionRecord, ring *pqxdh.Keyring) error {
	if ring != nil {
		if err := tx.PutSecret(secretKeyring, ring.Marshal()); err != nil {
			return err
		}
	}
	return putSession(tx, user, device, &sess)
}

// receiveGroupControl applies a group control message from a contact's
// device. It returns what to report (events), refused (the message was
// authentic but is not accepted, or is held: reported, acknowledged) or
// err (a local failure).
func (c *Client) receiveGroupControl(tx *localstore.Tx, from envelope.Address, kind uint8, body []byte) (events []Event, refused, err error) {
	recs, err := loadGroups(tx)
	if err != nil {
		return nil, nil, err
	}
	it := &heldGroupItem{Group: heldGroupID(kind, body), Kind: kind, User: from.User, Device: from.Device, Body: body}
	recs, res, err := c.applyGroupItem(tx, recs, it, nil)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case res.wait != nil:
		if refused, err = c.holdGroup(tx, it, res.wait); err != nil {
			return nil, nil, err
		}
		return nil, refused, saveGroups(tx, recs) // a resend request may be recorded
	case res.refused != nil:
		if errors.Is(res.refused, group.ErrStale) {
			return nil, nil, nil // a change already applied: nothing to report
		}
		if errors.Is(res.refused, group.ErrLostRace) || errors.Is(res.refused, group.ErrSharedKeyID) {
			// Kept, and reported, not refused: a join that lost to another
			// join (groupRecord.Lost), a sender key beside another device's
			// copy of its key id.
			if err := saveGroups(tx, recs); err != nil {
				return nil, nil, err
			}
			return []Event{{Err: fmt.Errorf("group message from %s: %w", from.User, res.refused)}}, nil, nil
		}
		return nil, fmt.Errorf("group message from %s: %w", from.User, res.refused), nil
	}
	return res.events, nil, saveGroups(tx, recs)
}

// groupKeyWarnings returns, after a change was applied, a warning for each
// member of the group whose key differs from the key this user pinned
// for that person: an admin who never talked to them took the key from
// the directory, and the directory may have served another one.
func (c *Client) groupKeyWarnings(tx *localstore.Tx, recs []*groupRecord, body []byte) []error {
	_, ch, err := decodeGroupChange(body)
	if err != nil {
		return nil
	}
	r := findByID(recs, ch.GroupID)
	if r == nil || r.Gone {
		return nil
	}
	st, err := r.current()
	if err != nil {
		return nil
	}
	return c.groupInfo(st, txPins(tx)).Warnings
}

// receiveChange applies a signed state change. A member refuses any change
// group.Log refuses: not signed by a member allowed to make it (an admin),
// not made on the state it holds, or not allowed on it. A change that
// cannot be applied yet (for a later version, or for a group whose
// creation has not arrived) is a waitErr; for a later version, the member
// also asks the device that sent it for the changes in between.
func (c *Client) receiveChange(recs []*groupRecord, from envelope.Address, body []byte) ([]*groupRecord, *GroupEvent, error) {
	prev, ch, err := decodeGroupChange(body)
	if err != nil {
		return recs, nil, err
	}
	self := c.prof.Username
	r := findByID(recs, ch.GroupID)
	if r == nil && prev == nil && ch.Kind != group.KindCreate {
		return recs, nil, waiting("a change (version %d) of a group whose creation has not arrived", ch.Version)
	}
	if r != nil && r.Gone && prev == nil {
		// A change of a group this user left, sent again (a resync), or
		// its creation replayed: neither brings this user back.
		return recs, nil, fmt.Errorf("%w: a change of #%s, which this user left", group.ErrStale, r.Name)
	}
	if r == nil || r.Gone {
		// Joining: the change creates the group or brings this user in.
		if r == nil {
			r = &groupRecord{ID: slices.Clone(ch.GroupID[:])}
			if err := c.adopt(r, prev, ch, from, false); err != nil {
				return recs, nil, err
			}
			return append(recs, r), changeEvent(r.Name, ch), nil
		}
		if err := c.adopt(r, prev, ch, from, false); err != nil {
			return recs, nil, err
		}
		return recs, changeEvent(r.Name, ch), nil
	}
	old, next, dropped, err := r.receive(ch)
	c.noteLostJoins(r, ch, dropped, err)
	if err != nil && prev != nil && (errors.Is(err, group.ErrFork) || errors.Is(err, group.ErrLostRace)) {
		// This user joined through a change that then lost a race; its
		// author remade it on the winning state and sent that state along.
		if err := c.adopt(r, prev, ch, from, true); err != nil {
			return recs, nil, err
		}
		return recs, changeEvent(r.Name, ch), nil
	}
	if errors.Is(err, group.ErrFuture) {
		if cur, cerr := r.current(); cerr == nil {
			c.askResend(r, cur, from.User)
			return recs, nil, waiting("change version %d of #%s, which is at version %d: asked %s for the changes in between",
				ch.Version, r.Name, cur.Version(), from.User)
		}
	}
	if err != nil {
		return recs, nil, err
	}
	if err := r.afterChange(self, old, next); err != nil {
		return recs, nil, err
	}
	return recs, changeEvent(next.Name(), ch), c.rebaseOwn(r, dropped)
}

// rebaseOwn remakes this user's changes that lost a race on the winning
// state, applies them, and records them for announcing after commit. A
// change that no longer makes sense on the new state (the winner already
// did it) is simply dropped.
func (c *Client) rebaseOwn(r *groupRecord, dropped []*group.Change) error {
	for _, lost := range dropped {
		if lost.Signer != c.prof.Username {
			continue
		}
		cur, err := r.current()
		if err != nil {
			return err
		}
		ch, _, err := group.Rebase(cur, lost, c.id)
		if errors.Is(err, group.ErrInvalid) {
			continue
		}
		if err != nil {
			return err
		}
		old, next, _, err := r.receive(ch)
		if err != nil {
			return err
		}
		if err := r.afterChange(c.prof.Username, old, next); err != nil {
			return err
		}
		r.Rebased = append(r.Rebased, rebasedChange{Prev: old.Marshal(), Change: ch.Marshal()})
	}
	return nil
}

// announceRebased sends the rebased own changes stored by rebaseOwn, then
// forgets them. Run after the receive step committed.
func (c *Client) announceRebased(ctx context.Context) {
	var todo []rebasedChange
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		todo = todo[:0]
		for _, r := range recs {
			todo = append(todo, r.Rebased...)
			r.Rebased = nil
		}
		if len(todo) == 0 {
			return nil
		}
		return saveGroups(tx, recs)
	})
	if err != nil {
		return
	}
	for _, rc := range todo {
		prev, err1 := group.ParseState(rc.Prev)
		ch, err2 := group.ParseChange(rc.Change)
		if err1 != nil || err2 != nil {
			continue
		}
		next, err := group.Apply(prev, ch)
		if err != nil {
			continue
		}
		_ = c.announce(ctx, prev, next, ch) // members that miss it resync from later changes
	}
}

// adopt takes the group as a change that brings this user in describes it:
// ch applied to prev, handed over by a member device. keepKeys keeps the
// sender keys received while in the group (a rebased join); a fresh join
// starts without any.
func (c *Client) adopt(r *groupRecord, prev *group.State, ch *group.Change, from envelope.Address, keepKeys bool) error {
	st, err := group.Apply(prev, ch)
	if err != nil {
		return err
	}
	if _, ok := st.Member(c.prof.Username); !ok {
		return fmt.Errorf("%w: a group change for a group this user is not in", group.ErrInvalid)
	}
	if !st.HasDevice(from.User, from.Device) {
		return fmt.Errorf("%w: handed over by a non-member", group.ErrForged)
	}
	ring := r.Ring
	if !keepKeys {
		ring = nil
	}
	*r = groupRecord{ID: r.ID, Name: st.Name(), Base: st.Marshal(), Ring: ring}
	if prev != nil {
		r.Base, r.Changes = prev.Marshal(), [][]byte{ch.Marshal()}
	}
	return nil
}

// receiveKey stores a sender key handed over by a current member's device.
// A key for a group that has not arrived, or from a device that a later
// change may bring in, waits; a key made for a later version than this
// member holds shows it missed changes, and it asks for them.
func (c *Client) receiveKey(recs []*groupRecord, from envelope.Address, body []byte) error {
	d, err := group.ParseDistribution(body)
	if err != nil {
		return err
	}
	r := findByID(recs, d.GroupID)
	if r == nil {
		return waiting("a sender key for a group this device has not received yet")
	}
	if r.Gone {
		return fmt.Errorf("%w: sender key for a group this user is not in", group.ErrWrongGroup)
	}
	st, err := r.current()
	if err != nil {
		return err
	}
	behind := d.Epoch > st.Version()
	if behind {
		c.askResend(r, st, from.User)
	}
	if !st.HasDevice(from.User, from.Device) {
		// A later change may list the sender: one this member has not
		// seen yet, or, in a public room, a join remade after it lost a
		// race (the joiner hands its key out before its join is taken).
		if behind || st.Type() == group.Public {
			return waiting("a sender key from %s, whom #%s does not list yet", from.User, r.Name)
		}
		return fmt.Errorf("%w: sender key from a device that is not a member", group.ErrForged)
	}
	ring, err := r.keyring()
	if err != nil {
		return err
	}
	addr := group.Address{User: from.User, Device: from.Device}
	if next, ok := ring.Next(addr, d.KeyID); ok && d.Iteration >= next {
		// The chain handed again, at or past where it is held: a sender
		// whose record named users, not devices, hands its key to every
		// device once more (SPEC §12.8). Nothing to change or report.
		return nil
	}
	if err := ring.Add(addr, d); err != nil {
		return err // reported: a device handing the same chain twice may be trying to rewind it
	}
	if err := r.saveRing(ring); err != nil {
		return err
	}
	return sharedKeyID(ring, d)
}

// handleGroupMessage opens a group message delivered by the fan-out. The
// relay never sees the sender: the message names the sender's chain, which
// the keyring maps to the member who handed it over. A message under a
// chain this device does not hold yet is held (group_held.go).
func (c *Client) handleGroupMessage(ctx context.Context, gm []byte, shows func(string) bool) (*Message, error) {
	var msg *messageRecord
	var report error
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		msg, report = nil, nil
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		it := &heldGroupItem{Group: heldGroupID(heldMessage, gm), Kind: heldMessage, Body: gm}
		recs, res, err := c.applyGroupItem(tx, recs, it, shows)
		if err != nil {
			return err
		}
		switch {
		case res.wait != nil:
			if report, err = c.holdGroup(tx, it, res.wait); err != nil {
				return err
			}
		case res.refused != nil:
			report = res.refused
			return nil // nothing of a refused message is kept
		}
		msg = res.msg
		return saveGroups(tx, recs)
	})
	var dr *dropped
	switch {
	case err != nil:
		return nil, err
	case errors.Is(report, group.ErrReplay) && !errors.Is(report, ErrGroupHeld):
		return nil, nil // a redelivery of a message already opened
	case report != nil && !errors.As(report, &dr) && !errors.Is(report, ErrGroupHeld):
		return nil, &dropped{reason: report}
	case report != nil:
		return nil, report
	case msg == nil:
		return nil, nil
	}
	pm := msg.public()
	return &pm, nil
}

// openGroupMessage decrypts gm with the group's keyring and checks that its
// sender is still a member. A message under a chain the keyring does not
// hold is a waitErr; if it was made for a later version than this member
// holds, the member asks an admin for the changes it missed.
func (c *Client) openGroupMessage(r *groupRecord, gm []byte) (*messageRecord, error) {
	st, err := r.current()
	if err != nil {
		return nil, err
	}
	ring, err := r.keyring()
	if err != nil {
		return nil, err
	}
	rcv, err := ring.Decrypt(gm)
	if errors.Is(err, group.ErrUnknownKey) {
		if epoch, ok := groupMessageEpoch(gm); ok && epoch > st.Version() {
			if admin := someAdmin(st, c.prof.Username); admin != "" {
				c.askResend(r, st, admin)
			}
		}
		return nil, waiting("group #%s: %w", r.Name, err)
	}
	if err != nil {
		return nil, drop("group #%s: %w", r.Name, err)
	}
	if err := r.saveRing(ring); err != nil {
		return nil, err
	}
	if !st.HasDevice(rcv.From.User, rcv.From.Device) {
		return nil, drop("group #%s: message from %s, who is not a member", r.Name, rcv.From.User)
	}
	mid, sentAt, app, err := decodeGroupPlain(rcv.Plaintext)
	if err != nil {
		return nil, drop("group #%s: %w", r.Name, err)
	}
	kind, body, err := decodeApp(app)
	if err != nil {
		return nil, drop("group #%s: %w", r.Name, err)
	}
	m := &messageRecord{ID: messageIDString(mid), Peer: "#" + r.Name, From: rcv.From.User,
		FromDevice: rcv.From.Device, To: "#" + r.Name, SentAt: sentAt, State: StateReceived}
	switch kind {
	case appKindText:
		m.Text = string(body)
	case appKindFile:
		// Stored without downloading; a memo is fetched after commit
		// (process), as in a pairwise conversation.
		if m.Attachment, err = decodeFile(body); err != nil {
			return nil, drop("group #%s: %w", r.Name, err)
		}
	case appKindData:
		if m.Data, err = decodeData(body); err != nil {
			return nil, drop("group #%s: %w", r.Name, err)
		}
	default:
		return nil, drop("group #%s: kind %d is not supported in groups", r.Name, kind)
	}
	return m, nil
}
