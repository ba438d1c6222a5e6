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
	inner := content.Payload
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
		if !have || !bytes.Equal(sess.BaseKey, pm.Header.BaseKey.Bytes()) {
			return c.accept(tx, content, pm)
		}
		inner = pm.Message
	case typeRatchet:
		if !have {
			return nil, sess, nil, drop("from %s device %d: no session", sender, d.ID)
		}
	default:
		return nil, sess, nil, drop("from %s: unknown content type %d", sender, content.Type)
	}
	var st ratchet.State
	if err := st.UnmarshalBinary(sess.State); err != nil {
		return nil, sess, nil, err
	}
	pt, err := st.Decrypt(inner)
	if err != nil {
		return nil, sess, nil, drop("from %s: %w", sender, err)
	}
	if sess.State, err = st.MarshalBinary(); err != nil {
		return nil, sess, nil, err
	}
	if content.Type == typeRatchet {
		sess.PreKey = nil // the peer answered: the session is established
	}
	return pt, sess, nil, nil
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
// the new messages in the order they arrived.
func (c *Client) Sync(ctx context.Context) ([]Message, error) {
	var out []Message
	var firstDrop error
	tr, err := c.transport(ctx)
	if err != nil {
		return nil, serverErr(err)
	}
	err = tr.drain(ctx, func(env []byte) error {
		return c.process(ctx, env, func(e Event) {
			if e.Message != nil {
				out = append(out, *e.Message)
			} else if firstDrop == nil {
				firstDrop = e.Err
			}
		})
	})
	if err != nil {
		return out, serverErr(err)
	}
	// The relay delivers in order; a plain broker may not (some resend a
	// resumed session's queue out of order). Within a batch, each sender's
	// messages are put back in the order that sender wrote them.
	orderPerSender(out)
	if err := c.maintain(ctx); err != nil {
		return out, fmt.Errorf("prekey maintenance: %w", err)
	}
	return out, nil
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
