package hush

import (
	"context"
	"time"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/wire"
)

// Sent transcripts (doc/SPEC.md §11.6): a 1:1 message this device sends
// goes, besides the recipient's devices, to every other device of this
// account as application kind 0x09, so that history shows it on all of
// them:
//
//	transcript = b8(peer username) || message     message: the application message sent (§11)
//
// It travels under the same message id on the pairwise sessions between
// the account's own devices. A device accepts a transcript only from a
// device of its own account.

// ownDevicesMaxAge is how long the stored record of the account's own
// devices serves before a send looks the account up again.
const ownDevicesMaxAge = 10 * time.Minute

func encodeTranscript(peer string, app []byte) []byte {
	w := wire.NewWriter(make([]byte, 0, 3+len(peer)+len(app)))
	w.U8(appVersion)
	w.U8(appKindTranscript)
	w.Bytes8([]byte(peer))
	w.Fixed(app)
	return w.Bytes()
}

// ownDevices returns this account's other devices to send transcripts to,
// from the stored record of the own account (looked up again when older
// than ownDevicesMaxAge, or never looked up). Offline, the stored record
// serves; without one, none.
func (c *Client) ownDevices(ctx context.Context) (*contactRecord, []contactDevice) {
	var rec *contactRecord
	c.st.View(ctx, func(tx *localstore.Tx) error {
		r, err := getContact(tx, c.prof.Username)
		if err == nil {
			rec = r
		}
		return nil
	})
	if rec == nil || c.now().Sub(time.Unix(rec.UpdatedAt, 0)) > ownDevicesMaxAge {
		if r, err := c.refreshContact(ctx, c.prof.Username); err == nil {
			rec = r
		}
	}
	if rec == nil || rec.Changed {
		return nil, nil
	}
	var out []contactDevice
	for _, d := range rec.Devices {
		if d.ID != c.dev.ID() {
			out = append(out, d)
		}
	}
	return rec, out
}

// storeTranscript stores the message a transcript describes as sent by
// this user to its peer; from a device of another account it is refused.
func (c *Client) storeTranscript(tx *localstore.Tx, content *envelope.Content, body []byte) error {
	if content.Sender.User != c.prof.Username {
		return drop("from %s: a sent transcript from another account", content.Sender.User)
	}
	r := wire.NewReader("sent transcript", body)
	peer := string(r.Bytes8("peer", 255))
	app := r.Rest()
	if err := r.Err(); err != nil {
		return drop("from own device %d: %w", content.Sender.Device, err)
	}
	kind, inner, err := decodeApp(app)
	if err != nil || peer == "" || peer == c.prof.Username {
		return drop("from own device %d: a malformed sent transcript", content.Sender.Device)
	}
	now := c.now()
	m := messageRecord{ID: messageIDString(content.MessageID), Peer: peer, From: c.prof.Username,
		FromDevice: content.Sender.Device, To: peer, SentAt: content.Timestamp, ReceivedAt: now.UnixMilli(),
		Outgoing: true, State: StateSent}
	switch kind {
	case appKindText:
		m.Text = string(inner)
	case appKindFile:
		if m.Attachment, err = decodeFile(inner); err != nil {
			return drop("from own device %d: %w", content.Sender.Device, err)
		}
	case appKindData:
		if m.Data, err = decodeData(inner); err != nil {
			return drop("from own device %d: %w", content.Sender.Device, err)
		}
	default:
		return drop("from own device %d: a transcript of kind %d", content.Sender.Device, kind)
	}
	_, err = tx.AddMessage(peer, content.MessageID[:], now, encodeJSON(m))
	return err
}
