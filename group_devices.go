package hush

// Groups per device (doc/DEVICES.md §4, doc/SPEC.md §12.8): a group's
// state lists each member's devices, and this user's entry follows the
// account's signed device list. The device that approves a link or
// removes a device signs a "devices" change (kind 9) for every group the
// user is in; maintenance catches up a group whose state lacks a listed
// device (a change that could not be sent, a group joined meanwhile).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/localstore"
)

// ownListed returns this user's devices other than this one that old or
// next lists (either may be nil).
func ownListed(self string, this uint32, states ...*group.State) []uint32 {
	var out []uint32
	for _, st := range states {
		if st == nil {
			continue
		}
		if m, ok := st.Member(self); ok {
			for _, d := range m.Devices {
				if d != this && !slices.Contains(out, d) {
					out = append(out, d)
				}
			}
		}
	}
	return out
}

// errNotListed: the account's device list does not name this device.
var errNotListed = errors.New("this device is not among the account's listed devices")

// ownGroupDevices returns the device ids this user's entry in a group
// should list: the account's listed devices (served devices for an account
// without a list), plus extra (a device being linked; 0: none), with this
// one always in. Beyond group.MaxDevices, this device and the lowest other
// ids are kept: the others receive nothing of the groups (their 1:1
// messages are not affected).
func (c *Client) ownGroupDevices(ctx context.Context, extra uint32) ([]uint32, error) {
	u, err := c.lookup(ctx, c.prof.Username)
	if err != nil {
		return nil, err
	}
	var ids []uint32
	if u.DeviceList != nil {
		for _, d := range u.DeviceList.Devices {
			ids = append(ids, d.ID)
		}
	} else {
		for _, d := range u.Devices {
			ids = append(ids, d.ID)
		}
	}
	if !slices.Contains(ids, c.dev.ID()) {
		// Removed, or not listed yet: a device never lists itself back.
		return nil, errNotListed
	}
	return capDevices(append(ids, extra), c.dev.ID()), nil
}

// capDevices sorts ids, drops 0 and repeats, and keeps at most
// group.MaxDevices: this device and the lowest others.
func capDevices(ids []uint32, this uint32) []uint32 {
	ids = append(slices.Clone(ids), this)
	ids = slices.DeleteFunc(ids, func(d uint32) bool { return d == 0 })
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > group.MaxDevices {
		others := slices.DeleteFunc(ids, func(d uint32) bool { return d == this })
		ids = append(others[:group.MaxDevices-1], this)
		slices.Sort(ids)
	}
	return ids
}

// setGroupDevices makes this user's entry list devs in every group it is
// in, signing a "devices" change where it differs, and announces each
// change. With onlyMissing, a group changes only when it lacks one of devs
// (maintenance: a device being linked, listed by its approver ahead of
// the account's list, is not dropped). Announcing failures are returned
// after every group was tried; the outbox keeps retrying them.
func (c *Client) setGroupDevices(ctx context.Context, devs []uint32, onlyMissing bool) error {
	type announced struct {
		old, next *group.State
		ch        *group.Change
	}
	var done []announced
	c.mu.Lock()
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		done = done[:0]
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		changed := false
		for _, r := range recs {
			if r.Gone {
				continue
			}
			cur, err := r.current()
			if err != nil {
				return err
			}
			me, ok := cur.Member(c.prof.Username)
			if !ok || slices.Equal(me.Devices, devs) {
				continue
			}
			if onlyMissing && !slices.ContainsFunc(devs, func(d uint32) bool { return !me.HasDevice(d) }) {
				continue
			}
			ch, _, err := group.Propose(cur, c.prof.Username, c.id, group.Op{Kind: group.KindDevices, Devices: devs})
			if err != nil {
				return fmt.Errorf("#%s: %w", r.Name, err)
			}
			old, next, _, err := r.receive(ch)
			if err != nil {
				return err
			}
			if err := r.afterChange(c.prof.Username, old, next); err != nil {
				return err
			}
			done, changed = append(done, announced{old, next, ch}), true
		}
		if !changed {
			return nil
		}
		return saveGroups(tx, recs)
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range done {
		errs = append(errs, c.announce(ctx, a.old, a.next, a.ch), c.publishRoom(ctx, a.next))
	}
	return errors.Join(errs...)
}

// maintainGroupDevices lists in every group the account's devices that a
// group's state lacks.
func (c *Client) maintainGroupDevices(ctx context.Context) error {
	var need bool
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		need = slices.ContainsFunc(recs, func(r *groupRecord) bool { return !r.Gone })
		return err
	})
	if err != nil || !need {
		return err
	}
	devs, err := c.ownGroupDevices(ctx, 0)
	if errors.Is(err, errNotListed) {
		return nil // removed, or still joining: nothing to announce
	}
	if err != nil {
		return err
	}
	if err := c.setGroupDevices(ctx, devs, true); err != nil {
		// The changes are applied and queued; the outbox retries them.
		c.log.Warn("announcing this account's devices to its groups", "err", err)
	}
	return nil
}

// groupsForLink is what a new device of the account gets of the groups
// (doc/SPEC.md §3.8): every group the user is in, its membership state
// (base and changes), name, join requests, publication and lost joins, as
// a JSON array of group records. Not a public-room join still being
// confirmed (the approving device confirms it, or joins again, and the
// new device follows its changes). Never the own sending chain (each device
// sends under its own chain: two devices on one chain would reuse message
// keys), nor the handover record, nor the receiving keyring (each member
// hands its current chain to the new device with its next message; a
// copied ring would only add the skipped keys of messages the new device
// never received).
func (c *Client) groupsForLink(ctx context.Context) ([]byte, error) {
	var out []*groupRecord
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Gone {
				continue
			}
			out = append(out, &groupRecord{ID: r.ID, Name: r.Name, Base: r.Base, Changes: r.Changes,
				Requests: r.Requests, Published: r.Published, Lost: r.Lost})
		}
		return nil
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return encodeJSON(out), nil
}

// importGroups stores the groups an approving device handed over, each
// checked as the device's own store would be (its log rebuilds, this user
// is a member), where this profile holds no group of that id.
func (c *Client) importGroups(ctx context.Context, raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	var in []*groupRecord
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("groups: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Update(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		for _, r := range in {
			st, err := r.current()
			if err != nil {
				return err
			}
			id := st.ID()
			if _, ok := st.Member(c.prof.Username); !ok || !bytes.Equal(r.ID, id[:]) || findByID(recs, id) != nil {
				continue
			}
			recs = append(recs, &groupRecord{ID: r.ID, Name: st.Name(), Base: r.Base, Changes: r.Changes,
				Requests: r.Requests, Published: r.Published, Lost: r.Lost})
		}
		return saveGroups(tx, recs)
	})
}
