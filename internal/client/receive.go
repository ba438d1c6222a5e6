package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/client/localstore"
	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/ratchet"
	"github.com/hush-chat/hush/internal/session"
)

// dropped is an envelope the client refuses for good: it is acknowledged
// (so a hostile or broken sender cannot clog the mailbox) and reported.
type dropped struct{ reason error }

func (d *dropped) Error() string { return "dropped an incoming envelope: " + d.reason.Error() }
func (d *dropped) Unwrap() error { return d.reason }

func drop(format string, args ...any) error { return &dropped{fmt.Errorf(format, args...)} }

// handle processes one incoming envelope. It returns the new message (nil
// for a duplicate), or an error: a *dropped error means "acknowledge and
// report"; any other error means the envelope must not be acknowledged
// (a local failure; it will come again).
func (c *Client) handle(ctx context.Context, env []byte) (*Message, error) {
	if len(env) > 0 && env[0] == groupEnvelope { // groups: a fan-out group message, no sealed envelope
		return c.handleGroupMessage(ctx, env[1:])
	}
	self := envelope.Address{User: c.prof.Username, Device: c.dev.ID()}
	content, err := envelope.Open(c.dev.EnvelopeKey(), self, env)
	if err != nil {
		return nil, drop("cannot open: %w", err)
	}
	sender := content.Sender.User
	d, rec, err := c.senderDevice(ctx, content.Sender)
	if err != nil {
		return nil, err
	}
	var msg *messageRecord
	var refused error // groups: a group control message refused after its session step
	c.mu.Lock()
	defer c.mu.Unlock()
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		pt, sess, ring, err := c.decrypt(tx, content, d, rec)
		if err != nil {
			return err
		}
		kind, body, err := decodeApp(pt)
		if err != nil {
			return drop("from %s: %w", sender, err)
		}
		if isGroupControl(kind) { // groups: control messages are applied, not stored as messages
			if refused, err = c.receiveGroupControl(tx, content.Sender, kind, body); err != nil {
				return err
			}
			return commitSession(tx, sender, d.ID, sess, ring)
		}
		now := c.now()
		m := messageRecord{ID: messageIDString(content.MessageID), Peer: sender, From: sender,
			FromDevice: content.Sender.Device, To: self.User, SentAt: content.Timestamp,
			ReceivedAt: now.UnixMilli(), State: StateReceived}
		switch kind {
		case appKindFile:
			// Stored without downloading; a memo is fetched after commit.
			if m.Attachment, err = decodeFile(body); err != nil {
				return drop("from %s: %w", sender, err)
			}
		default:
			m.Text = string(body)
		}
		fresh, err := tx.AddMessage(sender, content.MessageID[:], now, encodeJSON(m))
		if err != nil {
			return err
		}
		if fresh {
			msg = &m
		}
		if ring != nil {
			if err := tx.PutSecret(secretKeyring, ring.Marshal()); err != nil {
				return err
			}
		}
		return tx.PutSession(sender, d.ID, encodeJSON(sess))
	})
	var dr *dropped
	if errors.As(err, &dr) && errors.Is(err, ratchet.ErrReplay) {
		return nil, nil // a redelivery of a message already stored
	}
	if err == nil && refused != nil {
		return nil, &dropped{refused}
	}
	if err != nil || msg == nil {
		return nil, err
	}
	pm := msg.public()
	return &pm, nil
}

// senderDevice finds the contact and device an envelope claims to come
// from, looking the sender up when it is new (or has a new device).
func (c *Client) senderDevice(ctx context.Context, from envelope.Address) (contactDevice, *contactRecord, error) {
	var rec *contactRecord
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		var err error
		rec, err = getContact(tx, from.User)
		return err
	})
	if err != nil && !errors.Is(err, localstore.ErrNotFound) {
		return contactDevice{}, nil, err
	}
	for pass := 0; pass < 2; pass++ {
		if rec != nil && !rec.Changed {
			for _, d := range rec.Devices {
				if d.ID == from.Device {
					return d, rec, nil
				}
			}
		}
		if pass == 0 {
			if rec, err = c.refreshContact(ctx, from.User); err != nil {
				if errors.Is(err, ErrUnknownUser) {
					return contactDevice{}, nil, drop("claims to be from unknown user %q", from.User)
				}
				return contactDevice{}, nil, err // directory unreachable: retry later
			}
		}
	}
	if rec.Changed {
		return contactDevice{}, nil, drop("from %s, whose identity key changed: accept the new key first (%w)", from.User, ErrIdentityChanged)
	}
	return contactDevice{}, nil, drop("from %s device %d, which the directory does not list", from.User, from.Device)
}

// decrypt runs the session step for content and returns the plaintext, the
// session to store and, when a new session consumed prekeys, the keyring.
func (c *Client) decrypt(tx *localstore.Tx, content *envelope.Content, d contactDevice, rec *contactRecord) ([]byte, sessionRecord, *pqxdh.Keyring, error) {
	sender := content.Sender.User
	var sess sessionRecord
	raw, err := tx.GetSession(sender, d.ID)
	have := err == nil
	if err != nil && !errors.Is(err, localstore.ErrNotFound) {
		return nil, sess, nil, err
	}
	if have {
		if err := decodeJSON(raw, &sess, "session"); err != nil {
			return nil, sess, nil, err
		}
	}
	switch content.Type {
	case typePreKey:
		pm, err := pqxdh.ParsePreKeyMessage(content.Payload)
		if err != nil {
			return nil, sess, nil, drop("from %s: %w", sender, err)
		}
		// The sealed sender's claim must match the certificate that set the
		// session up: a contact cannot start a session in someone else's name.
		if !bytes.Equal(pm.Header.Initiator.Identity.Bytes(), rec.IdentityKey) || !bytes.Equal(pm.Header.Initiator.Marshal(), d.Cert) {
			return nil, sess, nil, drop("prekey message claims to be from %s but carries another identity", sender)
		}
		base := pm.Header.BaseKey.Bytes()
		if have && bytes.Equal(sess.BaseKey, base) {
			pt, state, err := openWith(sess.State, pm.Message, sender)
			sess.State = state
			return pt, sess, nil, err
		}
		for i := range sess.Archived {
			if bytes.Equal(sess.Archived[i].BaseKey, base) {
				pt, state, err := openWith(sess.Archived[i].State, pm.Message, sender)
				sess.Archived[i].State = state
				return pt, sess, nil, err
			}
		}
		pt, accepted, ring, err := c.accept(tx, content, pm)
		if err != nil || !have {
			return pt, accepted, ring, err
		}
		// A second session with this device: both sides started one at
		// once, or the peer started afresh. Both sides must agree on which
		// one carries what follows; the other is kept to read what was
		// already sent on it.
		if sess.PreKey != nil && c.winsTie(content.Sender) {
			sess.archive(accepted.State, accepted.BaseKey)
			return pt, sess, ring, nil
		}
		accepted.Archived = sess.Archived
		accepted.archive(sess.State, sess.BaseKey)
		return pt, accepted, ring, nil
	case typeRatchet:
		if !have {
			return nil, sess, nil, drop("from %s device %d: no session", sender, d.ID)
		}
		pt, state, err := openWith(sess.State, content.Payload, sender)
		if err == nil {
			sess.State = state
			sess.PreKey = nil // the peer answered: the session is established
			return pt, sess, nil, nil
		}
		for i := range sess.Archived {
			if apt, astate, aerr := openWith(sess.Archived[i].State, content.Payload, sender); aerr == nil {
				sess.Archived[i].State = astate
				return apt, sess, nil, nil
			}
		}
		return nil, sess, nil, err
	default:
		return nil, sess, nil, drop("from %s: unknown content type %d", sender, content.Type)
	}
}

// openWith decrypts a ratchet message with a stored state and returns the
// plaintext and the advanced state (the old one on failure).
func openWith(state, msg []byte, sender string) ([]byte, []byte, error) {
	var st ratchet.State
	if err := st.UnmarshalBinary(state); err != nil {
		return nil, state, err
	}
	pt, err := st.Decrypt(msg)
	if err != nil {
		return nil, state, drop("from %s: %w", sender, err)
	}
	next, err := st.MarshalBinary()
	if err != nil {
		return nil, state, err
	}
	return pt, next, nil
}

// winsTie decides, identically on both sides, whose session survives when
// two devices started sessions with each other at once: the one started
// by the device with the smaller (username, device id).
func (c *Client) winsTie(peer envelope.Address) bool {
	if c.prof.Username != peer.User {
		return c.prof.Username < peer.User
	}
	return c.dev.ID() < peer.Device
}

// accept sets up a new session from a prekey message.
func (c *Client) accept(tx *localstore.Tx, content *envelope.Content, pm *pqxdh.PreKeyMessage) ([]byte, sessionRecord, *pqxdh.Keyring, error) {
	rb, err := tx.GetSecret(secretKeyring)
	if err != nil {
		return nil, sessionRecord{}, nil, err
	}
	ring, err := pqxdh.ParseKeyring(rb)
	if err != nil {
		return nil, sessionRecord{}, nil, err
	}
	acc, err := session.Accept(c.dev, c.cert, ring, content.Payload)
	if err != nil {
		if errors.Is(err, pqxdh.ErrReplayedPreKeyMessage) || errors.Is(err, pqxdh.ErrPreKeyUsed) {
			return nil, sessionRecord{}, nil, &dropped{fmt.Errorf("from %s: %w (%w)", content.Sender.User, err, ratchet.ErrReplay)}
		}
		return nil, sessionRecord{}, nil, drop("from %s: %w", content.Sender.User, err)
	}
	state, err := acc.State.MarshalBinary()
	if err != nil {
		return nil, sessionRecord{}, nil, err
	}
	return acc.Plaintext, sessionRecord{State: state, BaseKey: pm.Header.BaseKey.Bytes()}, ring, nil
}

// process is the receive step every transport calls: it reports the result
// through fn and says whether to acknowledge.
func (c *Client) process(ctx context.Context, env []byte, fn func(Event)) error {
	m, err := c.handle(ctx, env)
	if err == nil && m == nil {
		c.announceRebased(ctx) // an own change that lost a race, remade
		c.republishStale(ctx)  // a group change may have moved a public room on
	}
	if err == nil && m != nil && m.Attachment != nil && m.Attachment.Memo {
		c.fetchMemo(ctx, m) // best effort: on failure the memo stays fetchable with Download
	}
	var dr *dropped
	switch {
	case errors.As(err, &dr):
		fn(Event{Err: err})
		return nil
	case err != nil:
		return err
	case m != nil:
		fn(Event{Message: m})
	}
	return nil
}

// Listen receives live until ctx is done, calling fn for every new message
// and for every envelope it had to drop. It refills the directory's
// one-time prekeys when they run low.
func (c *Client) Listen(ctx context.Context, fn func(Event)) error {
	if err := c.maintain(ctx); err != nil {
		fn(Event{Err: fmt.Errorf("prekey maintenance: %w", err)})
	}
	tr, err := c.transport(ctx)
	if err != nil {
		return serverErr(err)
	}
	err = tr.listen(ctx, func(env []byte) error { return c.process(ctx, env, fn) })
	if ctx.Err() != nil {
		return nil
	}
	return serverErr(err)
}

// Sync fetches everything pending, stores it, acknowledges it and returns
// the new messages in the order they arrived. When it refused envelopes
// for good, the error is a *RefusedError listing every one (the messages
// are still returned); a failure after some refusals is its Err.
func (c *Client) Sync(ctx context.Context) ([]Message, error) {
	out, refused, err := c.sync(ctx)
	if len(refused) > 0 {
		return out, &RefusedError{Reasons: refused, Err: err}
	}
	return out, err
}

func (c *Client) sync(ctx context.Context) (out []Message, refused []error, err error) {
	tr, err := c.transport(ctx)
	if err != nil {
		return nil, nil, serverErr(err)
	}
	err = tr.drain(ctx, func(env []byte) error {
		return c.process(ctx, env, func(e Event) {
			var dr *dropped
			switch {
			case e.Message != nil:
				out = append(out, *e.Message)
			case errors.As(e.Err, &dr):
				refused = append(refused, dr.reason)
			case e.Err != nil:
				refused = append(refused, e.Err)
			}
		})
	})
	if err != nil {
		return out, refused, serverErr(err)
	}
	// The relay delivers in order; a plain broker may not (some resend a
	// resumed session's queue out of order). Within a batch, each sender's
	// messages are put back in the order that sender wrote them.
	orderPerSender(out)
	if err := c.maintain(ctx); err != nil {
		return out, refused, fmt.Errorf("prekey maintenance: %w", err)
	}
	return out, refused, nil
}

// orderPerSender sorts each sender device's messages by that sender's
// clock, keeping the slots they occupy: messages of different senders stay
// interleaved as they arrived.
func orderPerSender(ms []Message) {
	type sender struct {
		user   string
		device uint32
	}
	slots := map[sender][]int{}
	for i, m := range ms {
		k := sender{m.From, m.FromDevice}
		slots[k] = append(slots[k], i)
	}
	for _, idx := range slots {
		group := make([]Message, len(idx))
		for j, i := range idx {
			group[j] = ms[i]
		}
		slices.SortStableFunc(group, func(a, b Message) int { return a.SentAt.Compare(b.SentAt) })
		for j, i := range idx {
			ms[i] = group[j]
		}
	}
}

// History returns the last limit messages of the conversation with peer,
// oldest first.
func (c *Client) History(ctx context.Context, peer string, limit int) ([]Message, error) {
	var out []Message
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := tx.History(peer, limit)
		if err != nil {
			return err
		}
		for _, b := range recs {
			var r messageRecord
			if err := decodeJSON(b, &r, "message"); err != nil {
				return err
			}
			out = append(out, r.public())
		}
		return nil
	})
	return out, err
}
