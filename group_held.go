package hush

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/localstore"
)

// Held group material (doc/SPEC.md §12.7). With several relays, or a
// backlog read while new envelopes arrive, a member can receive a sender
// key or a group message before the change that creates the group or
// brings the sender in, or a change before the one it builds on. None of
// these can be applied yet, and none can be fetched again: a control
// message's pairwise session step is already taken, and the relay
// forgets what was acknowledged. Such material is kept in the profile
// (encrypted at rest like every secret), acknowledged, and applied again,
// in arrival order, after each change, sender key or message this device
// takes in; a change that skips versions also makes the member ask for
// the changes it lacks (resend request, §11.2).

// secretGroupHeld holds the waiting material of every group.
const secretGroupHeld = "group-held"

// Bounds for the whole profile: a member (or anyone posing as one) cannot
// fill it. Material beyond them is dropped and reported.
const (
	maxGroupHeld      = 2000
	maxGroupHeldBytes = 32 << 20
)

// heldMessage is the kind of a held group message (application kinds
// name the control messages).
const heldMessage = 0x00

// heldGroupItem is one piece of group material waiting for what it
// depends on: a control message's body with the member device that sent
// it over the pairwise session, or a group message as the fan-out
// delivered it.
type heldGroupItem struct {
	Group  []byte `json:"group"`
	Kind   uint8  `json:"kind"` // appKindGroupChange, appKindGroupKey, or heldMessage
	User   string `json:"user,omitempty"`
	Device uint32 `json:"device,omitempty"`
	Body   []byte `json:"body"`
}

func (it *heldGroupItem) from() envelope.Address {
	return envelope.Address{User: it.User, Device: it.Device}
}

func (it *heldGroupItem) what() string {
	switch it.Kind {
	case appKindGroupChange:
		return "a group change from " + it.User
	case appKindGroupKey:
		return "a group key from " + it.User
	}
	return "a group message"
}

// ErrGroupHeld: group material arrived before what it depends on (the
// group's creation, an earlier change, the sender's key). It is kept and
// applied once that arrives.
var ErrGroupHeld = errors.New("held until the group changes or keys it depends on arrive")

// groupHeldErr is what receiving reports for material it held: nothing
// was lost, and the cause says what is missing.
type groupHeldErr struct {
	what  string
	cause error
	count int // held in all, this one included
}

func (e *groupHeldErr) Error() string {
	return fmt.Sprintf("%s is %v (%d held): %v", e.what, ErrGroupHeld, e.count, e.cause)
}

func (e *groupHeldErr) Unwrap() []error { return []error{ErrGroupHeld, e.cause} }

// waitErr marks a refusal that may clear once more changes or keys
// arrive: the material is held rather than refused.
type waitErr struct{ cause error }

func (w *waitErr) Error() string { return w.cause.Error() }
func (w *waitErr) Unwrap() error { return w.cause }

func waiting(format string, args ...any) error { return &waitErr{fmt.Errorf(format, args...)} }

func loadGroupHeld(tx *localstore.Tx) ([]*heldGroupItem, error) {
	b, err := tx.GetSecret(secretGroupHeld)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var items []*heldGroupItem
	return items, decodeJSON(b, &items, "held group material")
}

func saveGroupHeld(tx *localstore.Tx, items []*heldGroupItem) error {
	if len(items) == 0 {
		items = []*heldGroupItem{}
	}
	return tx.PutSecret(secretGroupHeld, encodeJSON(items))
}

// holdGroup keeps it in tx. It returns the report: a *groupHeldErr, or a
// *dropped when the bounds are reached. A redelivered item is kept once.
func (c *Client) holdGroup(tx *localstore.Tx, it *heldGroupItem, cause error) (error, error) {
	items, err := loadGroupHeld(tx)
	if err != nil {
		return nil, err
	}
	size := 0
	for _, h := range items {
		if h.Kind == it.Kind && bytes.Equal(h.Body, it.Body) && h.User == it.User && h.Device == it.Device {
			return &groupHeldErr{what: it.what(), cause: cause, count: len(items)}, nil
		}
		size += len(h.Body)
	}
	if len(items) >= c.limits.groupHeld || size+len(it.Body) > c.limits.groupHeldBytes {
		return drop("%s waits for earlier group changes or keys, but %d items (or %d MiB) wait already: this one is lost (%v)",
			it.what(), c.limits.groupHeld, c.limits.groupHeldBytes>>20, cause), nil
	}
	items = append(items, it)
	return &groupHeldErr{what: it.what(), cause: cause, count: len(items)}, saveGroupHeld(tx, items)
}

// itemResult is what applying one piece of group material did.
type itemResult struct {
	msg     *messageRecord // a group message, newly stored
	events  []Event        // membership changes, join requests, warnings
	wait    error          // cannot be applied yet: hold it
	refused error          // refused for good (ErrStale, ErrReplay: nothing to report)
}

// applyGroupItem applies one piece of group material in tx, on recs (which
// the caller saves). It returns an error only for a local failure.
func (c *Client) applyGroupItem(tx *localstore.Tx, recs []*groupRecord, it *heldGroupItem, shows func(string) bool) ([]*groupRecord, itemResult, error) {
	var res itemResult
	var err error
	switch it.Kind {
	case heldMessage:
		res, err = c.applyGroupMessage(tx, recs, it.Body, shows)
	case appKindGroupChange:
		var ev *GroupEvent
		if res.refused = c.checkJoin(tx, recs, it.from(), it.Body); res.refused == nil {
			recs, ev, res.refused = c.receiveChange(recs, it.from(), it.Body)
		}
		if res.refused == nil {
			if ev != nil {
				res.events = append(res.events, Event{Group: ev})
			}
			for _, w := range c.groupKeyWarnings(tx, recs, it.Body) {
				res.events = append(res.events, Event{Err: w})
			}
		}
	case appKindGroupKey:
		res.refused = c.receiveKey(recs, it.from(), it.Body)
	case appKindJoinRequest:
		if res.refused = c.receiveJoinRequest(recs, it.from(), it.Body); res.refused == nil {
			if ev := joinRequestEvent(recs, it.Body); ev != nil {
				res.events = append(res.events, Event{Group: ev})
			}
		}
	case appKindResend:
		res.refused = c.answerResend(recs, it.from(), it.Body)
	default:
		res.refused = fmt.Errorf("%w: group material of kind %d", group.ErrInvalid, it.Kind)
	}
	var w *waitErr
	if errors.As(res.refused, &w) {
		res.wait, res.refused = w.cause, nil
	}
	return recs, res, err
}

// applyGroupMessage opens a group message and stores it.
func (c *Client) applyGroupMessage(tx *localstore.Tx, recs []*groupRecord, gm []byte, shows func(string) bool) (itemResult, error) {
	var res itemResult
	if len(gm) < 1+group.IDSize {
		res.refused = drop("group message too short")
		return res, nil
	}
	r := findByID(recs, group.ID(gm[1:1+group.IDSize]))
	if r == nil {
		res.wait = fmt.Errorf("a message for a group this device has not received yet")
		return res, nil
	}
	if r.Gone {
		res.refused = drop("group message for a group this user is not in")
		return res, nil
	}
	ring := r.Ring
	m, err := c.openGroupMessage(r, gm)
	if err != nil {
		r.Ring = ring // nothing of a refused message is kept
		var w *waitErr
		var dr *dropped
		switch {
		case errors.As(err, &w):
			res.wait = w.cause
			return res, nil
		case errors.As(err, &dr):
			res.refused = err
			return res, nil
		}
		return res, err
	}
	m.ReceivedAt = c.now().UnixMilli()
	mid, _ := hex.DecodeString(m.ID)
	if m.From == c.prof.Username {
		// Sent from another device of this account: history shows it as
		// sent, and it is not news to this user.
		m.Outgoing, m.State = true, StateSent
		_, err := tx.AddMessage(m.Peer, mid, c.now(), encodeJSON(m))
		return res, err
	}
	// Unshown until a user interface shows it (MarkShown).
	fresh, err := tx.AddIncoming(m.Peer, mid, c.now(), encodeJSON(m), shows == nil || !shows(m.Peer))
	if fresh {
		res.msg = m
	}
	return res, err
}

// retryGroupHeld applies the held group material that can be applied now,
// oldest first and again until nothing more moves, and reports what it
// did through fn. Material for a group this user is no longer in is
// dropped and reported.
func (c *Client) retryGroupHeld(ctx context.Context, shows func(string) bool, fn func(Event)) error {
	var evs []Event
	var memos []*Message
	c.mu.Lock()
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		evs, memos = nil, nil
		items, err := loadGroupHeld(tx)
		if err != nil || len(items) == 0 {
			return err
		}
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		for moved := true; moved; {
			moved = false
			for i := 0; i < len(items); {
				var res itemResult
				if recs, res, err = c.applyGroupItem(tx, recs, items[i], shows); err != nil {
					return err
				}
				if res.wait != nil {
					i++
					continue
				}
				moved = true
				items = slices.Delete(items, i, i+1)
				if res.msg != nil {
					pm := res.msg.public()
					evs = append(evs, Event{Message: &pm})
					if pm.Attachment != nil && pm.Attachment.Memo {
						memos = append(memos, &pm)
					}
				}
				evs = append(evs, res.events...)
				if res.refused != nil && !errors.Is(res.refused, group.ErrStale) && !errors.Is(res.refused, group.ErrReplay) {
					evs = append(evs, Event{Err: fmt.Errorf("held group material: %w", res.refused)})
				}
			}
		}
		items = slices.DeleteFunc(items, func(it *heldGroupItem) bool {
			r := findByID(recs, group.ID(it.Group))
			if r == nil || !r.Gone {
				return false
			}
			evs = append(evs, Event{Err: fmt.Errorf("dropped %s for #%s, held until now: you are no longer a member", it.what(), r.Name)})
			return true
		})
		if err := saveGroupHeld(tx, items); err != nil {
			return err
		}
		return saveGroups(tx, recs)
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for _, m := range memos {
		c.fetchMemo(ctx, m) // best effort, as for a message received live
	}
	for _, e := range evs {
		fn(e)
	}
	return nil
}

// heldGroupID returns the group a piece of group material is for.
func heldGroupID(kind uint8, body []byte) []byte {
	switch kind {
	case heldMessage:
		if len(body) >= 1+group.IDSize {
			return slices.Clone(body[1 : 1+group.IDSize])
		}
	case appKindGroupChange:
		if _, ch, err := decodeGroupChange(body); err == nil {
			return slices.Clone(ch.GroupID[:])
		}
	case appKindGroupKey:
		if d, err := group.ParseDistribution(body); err == nil {
			return slices.Clone(d.GroupID[:])
		}
	}
	return nil
}
