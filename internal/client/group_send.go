package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/client/localstore"
	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/server/relay"
)

// sendControl sends a group control message to every device of user to
// over the pairwise sessions. Nothing is stored in the history.
func (c *Client) sendControl(ctx context.Context, to string, pt []byte) error {
	rec, err := c.refreshContact(ctx, to)
	if err != nil {
		return err
	}
	if rec.Changed {
		return fmt.Errorf("%w: %s has a new identity key", ErrIdentityChanged, to)
	}
	bundles, err := c.bundlesFor(ctx, rec)
	if err != nil {
		return err
	}
	var id [16]byte
	rand.Read(id[:])
	var outs []outgoing
	c.mu.Lock()
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		outs = outs[:0]
		for _, d := range rec.Devices {
			o, err := c.encryptFor(tx, to, d, bundles[d.ID], pt, id, c.now().UnixMilli())
			if err != nil {
				return err
			}
			outs = append(outs, o)
		}
		return nil
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	tr, err := c.transport(ctx)
	if err != nil {
		return serverErr(err)
	}
	for _, o := range outs {
		if err := tr.send(ctx, o.mailbox, o.env); err != nil {
			return serverErr(err)
		}
	}
	return nil
}

// withGroup runs fn on the group called name inside one store transaction
// (under the send/receive lock) and saves the groups when fn succeeds.
func (c *Client) withGroup(ctx context.Context, name string, fn func(tx *localstore.Tx, r *groupRecord) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Update(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		r, err := findByName(recs, name)
		if err != nil {
			return err
		}
		if err := fn(tx, r); err != nil {
			return err
		}
		return saveGroups(tx, recs)
	})
}

// distribute makes sure every other member holds the own sender key of the
// current epoch, starting a new epoch when the last one was dropped (a
// member left).
func (c *Client) distribute(ctx context.Context, name string) error {
	var dist *group.Distribution
	var targets []string
	err := c.withGroup(ctx, name, func(_ *localstore.Tx, r *groupRecord) error {
		st, err := r.current()
		if err != nil {
			return err
		}
		s, err := r.sender(st)
		if err != nil {
			return err
		}
		dist = s.Distribution()
		for _, m := range st.Members() {
			if m.Name != c.prof.Username && !slices.Contains(r.Given, m.Name) {
				targets = append(targets, m.Name)
			}
		}
		return nil
	})
	if err != nil || len(targets) == 0 {
		return err
	}
	var given []string
	var firstErr error
	for _, u := range targets {
		if err := c.sendControl(ctx, u, encodeGroupKey(dist)); err != nil {
			// A member whose key changed or who is unreachable cannot read
			// until the next send hands the key over again.
			firstErr = cmpOr(firstErr, fmt.Errorf("handing the group key to %s: %w", u, err))
			continue
		}
		given = append(given, u)
	}
	err = c.withGroup(ctx, name, func(_ *localstore.Tx, r *groupRecord) error {
		if s, err := r.parseSender(); err == nil && s != nil && s.KeyID() == dist.KeyID {
			r.Given = append(r.Given, given...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if errors.Is(firstErr, ErrServerUnreachable) {
		return firstErr
	}
	return nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (r *groupRecord) parseSender() (*group.Sender, error) {
	if r.Sender == nil {
		return nil, nil
	}
	s := new(group.Sender)
	if err := s.UnmarshalBinary(r.Sender); err != nil {
		return nil, fmt.Errorf("client: corrupt group sender: %w", err)
	}
	return s, nil
}

// sender returns the own Sender, making a new one (epoch = the state's
// version) when there is none.
func (r *groupRecord) sender(st *group.State) (*group.Sender, error) {
	s, err := r.parseSender()
	if err != nil || s != nil {
		return s, err
	}
	if s, err = group.NewSender(st.ID(), st.Version()); err != nil {
		return nil, err
	}
	if r.Sender, err = s.MarshalBinary(); err != nil {
		return nil, err
	}
	r.Given = nil
	return s, nil
}

// sendGroup sends text to the group: encrypted once under the own sender
// key, uploaded once for the mailboxes of every other member device. A
// text longer than MemoThreshold travels as a memo, as to a user.
func (c *Client) sendGroup(ctx context.Context, name, text string) (*Message, error) {
	if len(text) > MemoThreshold {
		return c.sendMemo(ctx, "#"+groupName(name), text)
	}
	return c.sendGroupApp(ctx, name, text, nil)
}

// sendGroupApp sends one application message to the group: a text, or
// (att set) a file message whose blob is already uploaded.
func (c *Client) sendGroupApp(ctx context.Context, name, text string, att *attachmentRecord) (*Message, error) {
	if att == nil && len(text) > MaxText {
		return nil, fmt.Errorf("%w: %d bytes, at most %d in one group message", ErrTooLarge, len(text), MaxText)
	}
	app := encodeText(text)
	if att != nil {
		app = encodeFile(att)
	}
	if err := c.distribute(ctx, name); err != nil {
		return nil, err
	}
	var id [16]byte
	rand.Read(id[:])
	now := c.now()
	var m messageRecord
	var env []byte
	var st *group.State
	err := c.withGroup(ctx, name, func(tx *localstore.Tx, r *groupRecord) error {
		var err error
		if st, err = r.current(); err != nil {
			return err
		}
		s, err := r.sender(st)
		if err != nil {
			return err
		}
		gm, err := s.Encrypt(encodeGroupPlain(id, now.UnixMilli(), app))
		if err != nil {
			return err
		}
		if r.Sender, err = s.MarshalBinary(); err != nil {
			return err
		}
		env = append([]byte{groupEnvelope}, gm...)
		m = messageRecord{ID: messageIDString(id), Peer: "#" + r.Name, From: c.prof.Username, FromDevice: c.dev.ID(),
			To: "#" + r.Name, Text: text, SentAt: now.UnixMilli(), ReceivedAt: now.UnixMilli(), Outgoing: true, State: StateSending,
			Attachment: att}
		_, err = tx.AddMessage(m.Peer, id[:], now, encodeJSON(m))
		return err
	})
	if err != nil {
		return nil, err
	}
	mailboxes, err := c.memberMailboxes(ctx, st)
	if err == nil && len(mailboxes) > 0 {
		err = c.fanOut(ctx, mailboxes, env)
	}
	m.State = StateSent
	if err != nil {
		m.State = StateFailed
	}
	uerr := c.st.Update(ctx, func(tx *localstore.Tx) error { return tx.UpdateMessage(m.Peer, id[:], encodeJSON(m)) })
	if err != nil {
		return nil, serverErr(err)
	}
	if uerr != nil {
		return nil, uerr
	}
	pm := m.public()
	return &pm, nil
}

// groupMailboxes lists the mailboxes of every other member device of the
// group called name (see memberMailboxes).
func (c *Client) groupMailboxes(ctx context.Context, name string) ([]string, error) {
	var st *group.State
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		r, err := findByName(recs, name)
		if err != nil {
			return err
		}
		st, err = r.current()
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.memberMailboxes(ctx, st)
}

// memberMailboxes lists the mailboxes of every other member device: the
// devices the state lists that the directory also certifies for the
// member's pinned identity key.
func (c *Client) memberMailboxes(ctx context.Context, st *group.State) ([]string, error) {
	var out []string
	for _, m := range st.Members() {
		if m.Name == c.prof.Username {
			continue
		}
		rec, err := c.storedOrFetched(ctx, m.Name)
		if err != nil {
			return nil, err
		}
		if rec.Changed || !bytes.Equal(rec.IdentityKey, m.Identity[:]) {
			continue // not this member's key: it gets nothing until re-added
		}
		for _, d := range rec.Devices {
			if m.HasDevice(d.ID) {
				out = append(out, d.Mailbox)
			}
		}
	}
	return out, nil
}

// fanOut uploads env once for all mailboxes through the relay, or sends it
// to each in direct mode (a plain broker has no fan-out).
func (c *Client) fanOut(ctx context.Context, mailboxes []string, env []byte) error {
	tr, err := c.transport(ctx)
	if err != nil {
		return err
	}
	rt, ok := tr.(*relayTransport)
	if !ok {
		for _, mb := range mailboxes {
			if err := tr.send(ctx, mb, env); err != nil {
				return err
			}
		}
		return nil
	}
	routing, err := relay.NewRouting(mailboxes)
	if err != nil {
		return err
	}
	return rt.withToken(ctx, func(s *apiclient.Session) error {
		_, err := c.api.FanOut(ctx, s.Token, routing, env)
		return err
	})
}
