package hush

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/sessbook"
	"github.com/hush-chat/hush/internal/session"
)

// Envelope content types (doc/SPEC.md §6).
const (
	typeRatchet = sessbook.TypeRatchet
	typePreKey  = sessbook.TypePreKey
)

// outgoing is one sealed envelope for one recipient device.
type outgoing struct {
	mailbox string
	env     []byte
}

// Send encrypts text to every device of user `to` and hands the envelopes
// to the relay (or broker). The message is stored in the history first
// (state sending), then marked sent or failed. A text longer than
// MemoThreshold travels as a memo: an encrypted attachment the recipient
// fetches on receipt and shows as text. Text that is empty or only white
// space is refused with ErrEmptyMessage. To send to a group, use
// Group(name).Send.
func (c *Client) Send(ctx context.Context, to, text string) (*Message, error) {
	if err := checkUserName(to); err != nil {
		return nil, err
	}
	return c.sendTo(ctx, to, text)
}

// checkUserName refuses a group name ("#team") where a user is expected.
func checkUserName(to string) error {
	if strings.HasPrefix(to, "#") {
		return fmt.Errorf("%w: %q names a group; send to it with Client.Group(%q)", ErrUnknownUser, to, strings.TrimPrefix(to, "#"))
	}
	return nil
}

// sendTo sends text to a user, or to a group ("#name").
func (c *Client) sendTo(ctx context.Context, to, text string) (*Message, error) {
	if strings.TrimSpace(text) == "" {
		return nil, ErrEmptyMessage
	}
	if strings.HasPrefix(to, "#") { // groups: "#name" is a group conversation (groups.go)
		return c.sendGroup(ctx, to, text)
	}
	if len(text) > MemoThreshold {
		return c.sendMemo(ctx, to, text)
	}
	return c.send(ctx, to, text, nil)
}

// SendData sends data, opaque bytes of the application's own format, to
// every device of user `to`, as Send sends a text: stored in the history
// first (Message.Data), queued and retried until the server takes it.
// The recipient receives it as an EventMessage whose Message.Data holds
// the bytes; hush never interprets them. Empty data is refused with
// ErrEmptyMessage, more than MaxData bytes with ErrTooLarge (send a file
// instead), both before anything is stored. To send to a group, use
// Group(name).SendData.
func (c *Client) SendData(ctx context.Context, to string, data []byte) (*Message, error) {
	if err := checkData(data); err != nil {
		return nil, err
	}
	if err := checkUserName(to); err != nil {
		return nil, err
	}
	return c.sendApp(ctx, to, messageRecord{Data: bytes.Clone(data)})
}

// checkData refuses data no data message may carry (doc/SPEC.md §11).
func checkData(data []byte) error {
	if len(data) == 0 {
		return ErrEmptyMessage
	}
	if len(data) > MaxData {
		return fmt.Errorf("%w: %d bytes of data, at most %d in one message", ErrTooLarge, len(data), MaxData)
	}
	return nil
}

// send sends one application message: a text, or (att set) a file message.
func (c *Client) send(ctx context.Context, to, text string, att *attachmentRecord) (*Message, error) {
	return c.sendApp(ctx, to, messageRecord{Text: text, Attachment: att})
}

// sendApp sends the application message that body's Text, Attachment or
// Data make (messageRecord.encodeApp); the other fields of body are unused.
func (c *Client) sendApp(ctx context.Context, to string, body messageRecord) (*Message, error) {
	if body.Attachment == nil && body.Data == nil && len(body.Text) > MaxText {
		return nil, fmt.Errorf("%w: %d bytes, at most %d in one message", ErrTooLarge, len(body.Text), MaxText)
	}
	if err := checkData(body.Data); body.Data != nil && err != nil {
		return nil, err
	}
	if to == c.prof.Username {
		return nil, errors.New("sending to yourself is not supported yet")
	}
	rec, err := c.contactForSend(ctx, to)
	if err != nil {
		return nil, err
	}
	if rec.Changed {
		return nil, fmt.Errorf("%w: %s has a new identity key; compare safety numbers, then accept it with hush verify %s --accept",
			ErrIdentityChanged, to, to)
	}
	if len(rec.Devices) == 0 {
		return nil, fmt.Errorf("%w: %s has no usable device", ErrUnknownUser, to)
	}
	bundles, err := c.bundlesFor(ctx, rec)
	if err != nil {
		return nil, err
	}
	// The account's other devices get a transcript (transcript.go); one
	// that cannot be reached for a bundle now is left out, not the message.
	selfRec, own := c.ownDevices(ctx)
	var ownBundles map[uint32]*pqxdh.Bundle
	if len(own) > 0 {
		if ownBundles, err = c.bundlesFor(ctx, &contactRecord{Username: selfRec.Username, IdentityKey: selfRec.IdentityKey, Devices: own}); err != nil {
			c.log.Warn("sent transcript to own devices left out", "err", err)
			own = nil
		}
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	now := c.now()
	m := messageRecord{ID: messageIDString(id), Peer: to, From: c.prof.Username, FromDevice: c.dev.ID(), To: to,
		Text: body.Text, SentAt: now.UnixMilli(), ReceivedAt: now.UnixMilli(), Outgoing: true, State: StateSending,
		Attachment: body.Attachment, Data: body.Data}
	pt := m.encodeApp()
	c.mu.Lock()
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		ob := outboxRecord{Conv: to, MsgID: m.ID, What: "message to " + to, Created: now.UnixMilli()}
		for _, d := range rec.Devices {
			o, err := c.encryptFor(tx, to, d, bundles[d.ID], pt, id, now.UnixMilli())
			if err != nil {
				return err
			}
			ob.Sends = append(ob.Sends, outboxSend{Mailboxes: []string{o.mailbox}, Users: []string{to}, Env: o.env})
		}
		if len(own) > 0 {
			tpt := encodeTranscript(to, pt)
			for _, d := range own {
				o, err := c.encryptFor(tx, c.prof.Username, d, ownBundles[d.ID], tpt, id, now.UnixMilli())
				if err != nil {
					return err
				}
				ob.Sends = append(ob.Sends, outboxSend{Mailboxes: []string{o.mailbox}, Users: []string{c.prof.Username}, Env: o.env})
			}
		}
		if _, err := tx.AddMessage(to, id[:], now, encodeJSON(m)); err != nil {
			return err
		}
		_, err := enqueue(tx, &ob)
		return err
	})
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// The sessions advanced, and the message and its envelopes are stored,
	// before anything is sent: a crash here never reuses a message key,
	// and the outbox sends the same envelopes later.
	return c.sendQueued(ctx, to, m.ID)
}

// bundlesFor fetches a prekey bundle for every device without a session,
// checking that each belongs to the pinned identity and matches the pinned
// device certificate.
func (c *Client) bundlesFor(ctx context.Context, rec *contactRecord) (map[uint32]*pqxdh.Bundle, error) {
	var need []contactDevice
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		for _, d := range rec.Devices {
			if has, err := hasSession(tx, rec.Username, d.ID); err != nil {
				return err
			} else if !has {
				need = append(need, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[uint32]*pqxdh.Bundle)
	for _, d := range need {
		ba, err := c.fetchBundle(ctx, rec.Username, d.ID)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(ba.Bundle.Device.Identity.Bytes(), rec.IdentityKey) || !bytes.Equal(ba.Bundle.Device.Marshal(), d.Cert) {
			return nil, fmt.Errorf("%w: the directory served a bundle for %s that does not match the pinned key",
				ErrIdentityChanged, rec.Username)
		}
		out[d.ID] = ba.Bundle
	}
	return out, nil
}

// encryptFor advances (or starts) the session with one device, stores it in
// tx, and seals the resulting message in an envelope for that device:
// tagged when the session's sender state holds an unused position (doc/SPEC.md
// §14.8), else sealed. When the device is due a batch of tagged envelope
// keys, an offer is queued to it in tx as well (offerIfDue).
func (c *Client) encryptFor(tx *localstore.Tx, to string, d contactDevice, b *pqxdh.Bundle, pt []byte, id [16]byte, ts int64) (outgoing, error) {
	// The offer first: its outbox entry precedes the caller's, so the
	// peer reads the two in the order of the ratchet chain.
	sess, err := getSession(tx, to, d.ID)
	if err != nil && !errors.Is(err, localstore.ErrNotFound) {
		return outgoing{}, err
	}
	if err == nil && sessbook.OfferDue(&sess, false) {
		if err := c.offerIfDue(tx, to, d, &sess, false); err != nil {
			return outgoing{}, err
		}
	}
	o, _, err := c.sealFor(tx, to, d, b, pt, id, ts)
	return o, err
}

// sealFor is encryptFor without the offer: it returns the stored session.
func (c *Client) sealFor(tx *localstore.Tx, to string, d contactDevice, b *pqxdh.Bundle, pt []byte, id [16]byte, ts int64) (outgoing, sessionRecord, error) {
	sess, err := getSession(tx, to, d.ID)
	if err != nil && !errors.Is(err, localstore.ErrNotFound) {
		return outgoing{}, sess, err
	}
	cert, err := c.certs.Get(c.contactsGen.Load(), d.Cert)
	if err != nil {
		return outgoing{}, sess, err
	}
	content := envelope.Content{
		Sender:    envelope.Address{User: c.prof.Username, Device: c.dev.ID()},
		Recipient: envelope.Address{User: to, Device: d.ID},
		MessageID: id, Timestamp: ts}
	var env []byte
	if !sess.Has() {
		if b == nil {
			return outgoing{}, sess, fmt.Errorf("no session with %s device %d and no bundle", to, d.ID)
		}
		st, pm, err := session.Start(c.dev, c.cert, b, pt)
		if err != nil {
			return outgoing{}, sess, err
		}
		// A new session: the peer may have started afresh (a restored
		// profile, a reset) and hold none of the batches this device was
		// sealing to, so the sender state goes; the receiver offers again.
		state, err := st.MarshalBinary()
		if err != nil {
			return outgoing{}, sess, err
		}
		sess = sessionRecord{State: state, PreKey: pm, TagRecv: sess.TagRecv, TagOld: sess.TagOld, Archived: sess.Archived, OfferDue: true}
		content.Type, content.Payload = typePreKey, pm
		if env, err = envelope.Seal(cert.Envelope, &content); err != nil {
			return outgoing{}, sess, err
		}
	} else if env, err = sessbook.SealMessage(&sess, cert, content, pt); err != nil {
		return outgoing{}, sess, err
	}
	if err := putSession(tx, to, d.ID, &sess); err != nil {
		return outgoing{}, sess, err
	}
	return outgoing{mailbox: d.Mailbox, env: env}, sess, nil
}
