package hush

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/wire"
)

// Resend requests (doc/SPEC.md §11.2). A member that learns it missed
// changes (a change for a later version, a sender key or group message
// made for a later version) asks a member for every change after the
// version it holds; any member whose log reaches back that far answers
// with those changes, as ordinary change messages through its outbox. The
// answer stops at the change that removed the requester: a member learns
// nothing of the group after it left.

// resendVersion starts a resend request body.
const resendVersion = 0x01

// encodeResendRequest encodes a resend request message: u8 0x01 ||
// group id (16) || u64 version, the version the requester holds.
func encodeResendRequest(id group.ID, since uint64) []byte {
	w := wire.NewWriter(make([]byte, 0, 2+1+group.IDSize+8))
	w.U8(appVersion)
	w.U8(appKindResend)
	w.U8(resendVersion)
	w.Fixed(id[:])
	w.U64(since)
	return w.Bytes()
}

func decodeResendRequest(body []byte) (group.ID, uint64, error) {
	r := wire.NewReader("group resend request", body)
	r.Version(resendVersion)
	var id group.ID
	copy(id[:], r.Fixed("group_id", group.IDSize))
	since := r.U64("version")
	return id, since, r.Done()
}

// groupMessageEpoch reads the epoch from a group message's header
// (doc/SPEC.md §12.6).
func groupMessageEpoch(gm []byte) (uint64, bool) {
	const at = 1 + group.IDSize
	if len(gm) < at+8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(gm[at:]), true
}

// someAdmin returns an admin of st other than self ("" if none).
func someAdmin(st *group.State, self string) string {
	for _, m := range st.Members() {
		if m.Role == group.RoleAdmin && m.Name != self {
			return m.Name
		}
	}
	return ""
}

// askResend records a request to user for the changes after st, once per
// version (a lost answer is asked for again by hush group resync). It is
// queued after the transaction commits (sendGroupQueued).
func (c *Client) askResend(r *groupRecord, st *group.State, user string) {
	if user == "" || user == c.prof.Username || r.Asked == st.Version() {
		return
	}
	r.Asked = st.Version()
	r.Send = append(r.Send, controlToSend{To: user, Msg: encodeResendRequest(st.ID(), st.Version()),
		What: fmt.Sprintf("request to %s for the changes of #%s after version %d", user, r.Name, st.Version())})
}

// groupStep is one kept change with the states before and after it.
type groupStep struct {
	prev, next *group.State
	ch         *group.Change
}

// steps returns the kept changes of the group, oldest first, and the base
// state before them.
func (r *groupRecord) steps() (*group.State, []groupStep, error) {
	base, err := group.ParseState(r.Base)
	if err != nil {
		return nil, nil, fmt.Errorf("client: corrupt group record: %w", err)
	}
	var out []groupStep
	st := base
	for _, b := range r.Changes {
		ch, err := group.ParseChange(b)
		if err != nil {
			return nil, nil, fmt.Errorf("client: corrupt group record: %w", err)
		}
		next, err := group.Apply(st, ch)
		if err != nil {
			return nil, nil, fmt.Errorf("client: corrupt group record: %w", err)
		}
		out = append(out, groupStep{prev: st, next: next, ch: ch})
		st = next
	}
	return base, out, nil
}

// tell records ch for user, with the state it applies to when ch brings
// user in, unless the same message already waits.
func (r *groupRecord) tell(user string, s groupStep) {
	var prev *group.State
	if _, ok := s.prev.Member(user); !ok {
		prev = s.prev
	}
	msg := encodeGroupChange(prev, s.ch)
	if slices.ContainsFunc(r.Send, func(t controlToSend) bool { return t.To == user && bytes.Equal(t.Msg, msg) }) {
		return
	}
	r.Send = append(r.Send, controlToSend{To: user, Msg: msg, What: fmt.Sprintf("change %d of #%s for %s", s.ch.Version, r.Name, user)})
}

// answerResend records, for a member device that asks, the kept changes
// after the version it holds. The requester must have been a member at
// that version (so it learns only what it was sent when it happened).
func (c *Client) answerResend(recs []*groupRecord, from envelope.Address, body []byte) error {
	id, since, err := decodeResendRequest(body)
	if err != nil {
		return err
	}
	r := findByID(recs, id)
	if r == nil || r.Gone {
		return fmt.Errorf("%w: request for the changes of a group this user is not in", group.ErrWrongGroup)
	}
	base, steps, err := r.steps()
	if err != nil {
		return err
	}
	cur := base
	if len(steps) > 0 {
		cur = steps[len(steps)-1].next
	}
	if since >= cur.Version() {
		return nil // it is not behind this member
	}
	if since < base.Version() {
		return fmt.Errorf("%s asks for the changes of #%s after version %d; this member keeps them from version %d only (an admin can run hush group resync)",
			from.User, r.Name, since, base.Version())
	}
	at := base
	if since > base.Version() {
		at = steps[since-base.Version()-1].next
	}
	if !at.HasDevice(from.User, from.Device) {
		return fmt.Errorf("%w: %s asks for the changes of #%s after version %d, when it was not a member", group.ErrForged, from.User, r.Name, since)
	}
	for _, s := range steps[since-base.Version():] {
		r.tell(from.User, s)
		if _, ok := s.next.Member(from.User); !ok {
			break // removed: nothing after that
		}
	}
	return nil
}

// sendGroupQueued queues the control messages receiving recorded (resend
// requests and answers) and sends them. One that cannot be queued for
// good (the user's key changed, the user is gone) is reported and
// forgotten; one that cannot be queued because the server is down is
// kept for the next pass (after the next control message received, or
// RetrySends), and a *QueuedError returned.
func (c *Client) sendGroupQueued(ctx context.Context, fn func(Event)) error {
	var todo []controlToSend
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		for _, r := range recs {
			todo = append(todo, r.Send...)
		}
		return err
	})
	if err != nil || len(todo) == 0 {
		return err
	}
	var done []controlToSend
	var down error
	queued := false
	for _, t := range todo {
		err := c.queueControl(ctx, t.To, t.Msg, t.What)
		if errors.Is(err, ErrServerUnreachable) || ctx.Err() != nil {
			down = &QueuedError{Cause: fmt.Errorf("%s: %w", t.What, cmpOr(err, ctx.Err()))}
			break
		}
		if err != nil && fn != nil {
			fn(Event{Err: fmt.Errorf("%s: %w", t.What, err)})
		}
		queued = queued || err == nil
		done = append(done, t)
	}
	c.mu.Lock()
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			r.Send = slices.DeleteFunc(r.Send, func(t controlToSend) bool {
				return slices.ContainsFunc(done, func(d controlToSend) bool { return d.To == t.To && bytes.Equal(d.Msg, t.Msg) })
			})
		}
		return saveGroups(tx, recs)
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if queued {
		return cmpOr(down, c.flushNow(ctx))
	}
	return down
}

// sendGroupControls is sendGroupQueued for the receive loop: a server
// that went away is noticed by the loop itself, and what waits goes out
// after the next control message or with RetrySends.
func (c *Client) sendGroupControls(ctx context.Context, fn func(Event)) {
	var qe *QueuedError
	if err := c.sendGroupQueued(ctx, fn); err != nil && !errors.As(err, &qe) {
		fn(Event{Err: fmt.Errorf("group control: %w", err)})
	}
}

// ResyncGroup brings the group's members up to date: an admin sends every
// kept change again to the members it concerns (they ignore those they
// hold), and any member asks the admins for the changes after its
// version. The own sender key is handed over again with the next message.
func (c *Client) ResyncGroup(ctx context.Context, name string) (*GroupInfo, error) {
	var st *group.State
	err := c.withGroup(ctx, name, func(_ *localstore.Tx, r *groupRecord) error {
		_, steps, err := r.steps()
		if err != nil {
			return err
		}
		if st, err = r.current(); err != nil {
			return err
		}
		if st.IsAdmin(c.prof.Username) {
			for _, s := range steps {
				for _, u := range stepUsers(s) {
					if u != c.prof.Username {
						r.tell(u, s)
					}
				}
			}
		}
		for _, m := range st.Members() {
			if m.Role == group.RoleAdmin && m.Name != c.prof.Username {
				r.Asked = 0 // asked on demand: whatever was asked before, and of every admin
				c.askResend(r, st, m.Name)
			}
		}
		r.Given = nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	var errs []error
	err = c.sendGroupQueued(ctx, func(e Event) { errs = append(errs, e.Err) })
	return c.groupInfoNow(ctx, st), cmpOr(err, errors.Join(errs...))
}

// stepUsers lists the members of the states before and after a change:
// whom its author tells.
func stepUsers(s groupStep) []string {
	var us []string
	for _, st := range []*group.State{s.prev, s.next} {
		for _, m := range st.Members() {
			if !slices.Contains(us, m.Name) {
				us = append(us, m.Name)
			}
		}
	}
	return us
}
