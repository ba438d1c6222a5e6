package hush

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/proto"
)

// sendControl sends a group control message to every device of user to
// over the pairwise sessions, through the outbox. Nothing is stored in the
// history.
func (c *Client) sendControl(ctx context.Context, to string, pt []byte, what string) error {
	if err := c.queueControl(ctx, to, pt, what); err != nil {
		return err
	}
	return c.flushNow(ctx)
}

// queueControl encrypts a control message for every device of user to
// (every other device, when to is this user) and queues it in the outbox,
// which delivers it until the server accepts it.
func (c *Client) queueControl(ctx context.Context, to string, pt []byte, what string) error {
	_, err := c.queueControlTo(ctx, to, pt, what, nil)
	return err
}

// queueControlTo is queueControl for the devices of to that want accepts
// (nil: all). It reports the devices it encrypted to: a device the
// directory does not serve for the pinned key gets nothing, and is not
// reported.
func (c *Client) queueControlTo(ctx context.Context, to string, pt []byte, what string, want func(device uint32) bool) ([]uint32, error) {
	rec, err := c.contactForSend(ctx, to)
	if err != nil {
		return nil, err
	}
	if rec.Changed {
		return nil, fmt.Errorf("%w: %s has a new identity key", ErrIdentityChanged, to)
	}
	var devs []contactDevice
	for _, d := range rec.Devices {
		if (to != c.prof.Username || d.ID != c.dev.ID()) && (want == nil || want(d.ID)) {
			devs = append(devs, d)
		}
	}
	if len(devs) == 0 {
		return nil, nil
	}
	bundles, err := c.bundlesFor(ctx, &contactRecord{Username: rec.Username, IdentityKey: rec.IdentityKey, Devices: devs})
	if err != nil {
		return nil, err
	}
	var id [16]byte
	rand.Read(id[:])
	var sent []uint32
	c.mu.Lock()
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		sent = sent[:0]
		ob := outboxRecord{What: what, Created: c.now().UnixMilli()}
		for _, d := range devs {
			o, err := c.encryptFor(tx, to, d, bundles[d.ID], pt, id, c.now().UnixMilli())
			if err != nil {
				return err
			}
			ob.Sends = append(ob.Sends, outboxSend{Mailboxes: []string{o.mailbox}, Users: []string{to}, Env: o.env})
			sent = append(sent, d.ID)
		}
		_, err := enqueue(tx, &ob)
		return err
	})
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return sent, nil
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

// givenKey names a member device in groupRecord.Given: "user/device".
// Usernames hold no '/', so an entry of an older client (a bare username)
// never matches one: that member's devices are handed the key once more.
func givenKey(user string, device uint32) string {
	return user + "/" + strconv.FormatUint(uint64(device), 10)
}

// distribute makes sure every other member device the state lists holds
// the own sender key of the current epoch — this user's other devices
// included, so that they read what this device sends — starting a new
// epoch when the last one was dropped (a member left). Each device is
// recorded as given only once the key is queued for it.
func (c *Client) distribute(ctx context.Context, name string) error {
	var dist *group.Distribution
	type target struct {
		user string
		devs []uint32
	}
	var targets []target
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
		given := make(map[string]bool, len(r.Given))
		for _, g := range r.Given {
			given[g] = true
		}
		for _, m := range st.Members() {
			var devs []uint32
			for _, d := range m.Devices {
				if (m.Name != c.prof.Username || d != c.dev.ID()) && !given[givenKey(m.Name, d)] {
					devs = append(devs, d)
				}
			}
			if len(devs) > 0 {
				targets = append(targets, target{m.Name, devs})
			}
		}
		return nil
	})
	if err != nil || len(targets) == 0 {
		return err
	}
	var given []string
	var firstErr error
	for _, t := range targets {
		sent, err := c.queueControlTo(ctx, t.user, encodeGroupKey(dist), "group key of "+name+" for "+t.user,
			func(d uint32) bool { return slices.Contains(t.devs, d) })
		if err != nil {
			// A member whose key changed or who is unreachable cannot read
			// until the next send hands the key over again.
			firstErr = cmpOr(firstErr, fmt.Errorf("handing the group key to %s: %w", t.user, err))
			continue
		}
		for _, d := range sent {
			given = append(given, givenKey(t.user, d))
		}
	}
	err = c.withGroup(ctx, name, func(_ *localstore.Tx, r *groupRecord) error {
		if s, err := r.parseSender(); err == nil && s != nil && s.KeyID() == dist.KeyID {
			// Entries of an older client (users) go; each device given
			// is recorded once.
			seen := make(map[string]bool, len(r.Given)+len(given))
			r.Given = slices.DeleteFunc(r.Given, func(g string) bool {
				drop := !strings.Contains(g, "/") || seen[g]
				seen[g] = true
				return drop
			})
			for _, g := range given {
				if !seen[g] {
					seen[g] = true
					r.Given = append(r.Given, g)
				}
			}
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
	return c.sendGroupBody(ctx, name, messageRecord{Text: text, Attachment: att})
}

// sendGroupBody sends to the group the application message that body's
// Text, Attachment or Data make (messageRecord.encodeApp).
func (c *Client) sendGroupBody(ctx context.Context, name string, body messageRecord) (*Message, error) {
	if body.Attachment == nil && body.Data == nil && len(body.Text) > MaxText {
		return nil, fmt.Errorf("%w: %d bytes, at most %d in one group message", ErrTooLarge, len(body.Text), MaxText)
	}
	if err := checkData(body.Data); body.Data != nil && err != nil {
		return nil, err
	}
	app := body.encodeApp()
	if err := c.distribute(ctx, name); err != nil {
		return nil, err
	}
	// The recipients are worked out before the transaction (it may ask the
	// directory about a member); the transaction checks that the group did
	// not change meanwhile.
	ver, mailboxes, users, err := c.groupMailboxes(ctx, name)
	if err != nil {
		return nil, err
	}
	var id [16]byte
	rand.Read(id[:])
	now := c.now()
	var m messageRecord
	var env []byte
	err = c.withGroup(ctx, name, func(tx *localstore.Tx, r *groupRecord) error {
		st, err := r.current()
		if err != nil {
			return err
		}
		if st.Version() != ver {
			return fmt.Errorf("#%s changed while sending: send again", r.Name)
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
			To: "#" + r.Name, Text: body.Text, SentAt: now.UnixMilli(), ReceivedAt: now.UnixMilli(), Outgoing: true, State: StateSending,
			Attachment: body.Attachment, Data: body.Data}
		if _, err := tx.AddMessage(m.Peer, id[:], now, encodeJSON(m)); err != nil {
			return err
		}
		if len(mailboxes) == 0 {
			m.State = StateSent // a group of one: nobody to deliver to
			return tx.UpdateMessage(m.Peer, id[:], encodeJSON(m))
		}
		ob := outboxRecord{Conv: m.Peer, MsgID: m.ID, What: "message to " + m.Peer, Created: now.UnixMilli()}
		for i := 0; i < len(mailboxes); i += proto.MaxFanout {
			j := min(i+proto.MaxFanout, len(mailboxes))
			ob.Sends = append(ob.Sends, outboxSend{Mailboxes: mailboxes[i:j], Users: users[i:j], Env: env})
		}
		_, err = enqueue(tx, &ob)
		return err
	})
	if err != nil {
		return nil, err
	}
	if m.State == StateSent {
		pm := m.public()
		return &pm, nil
	}
	return c.sendQueued(ctx, m.Peer, m.ID)
}

// groupMailboxes lists the mailboxes of every other member device of the
// group called name, with their owners, and the version of the group
// state they come from (see memberMailboxes).
func (c *Client) groupMailboxes(ctx context.Context, name string) (version uint64, mailboxes, users []string, err error) {
	var st *group.State
	err = c.st.View(ctx, func(tx *localstore.Tx) error {
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
		return 0, nil, nil, err
	}
	mailboxes, users, err = c.memberMailboxes(ctx, st)
	return st.Version(), mailboxes, users, err
}

// memberMailboxes lists the mailboxes of every other member device, and
// who owns each: the devices the state lists that the directory also
// certifies for the member's pinned identity key. This user's other
// listed devices are among them: they read what this device sends.
func (c *Client) memberMailboxes(ctx context.Context, st *group.State) (mailboxes, users []string, err error) {
	for _, m := range st.Members() {
		self := m.Name == c.prof.Username
		if self && len(m.Devices) == 1 && m.HasDevice(c.dev.ID()) {
			continue // no other own device to send to
		}
		rec, err := c.storedOrFetched(ctx, m.Name)
		if err != nil {
			return nil, nil, err
		}
		if rec.Changed || !bytes.Equal(rec.IdentityKey, m.Identity[:]) {
			continue // not this member's key: it gets nothing until re-added
		}
		for _, d := range rec.Devices {
			if m.HasDevice(d.ID) && (!self || d.ID != c.dev.ID()) {
				mailboxes, users = append(mailboxes, d.Mailbox), append(users, m.Name)
			}
		}
	}
	return mailboxes, users, nil
}
