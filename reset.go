package hush

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/wire"
)

// Session recovery (doc/SPEC.md §11.4). A device that cannot read a ratchet
// message from a peer device — no session, a message key it already used
// for another message (the peer's profile was restored from an older
// copy), a ratchet key it cannot follow (its own profile was restored) —
// asks that device, in a reset request signed with its identity key, to
// start a new session and send again what it sent from the unreadable
// message on. The peer drops its session, starts a new one from a fresh
// prekey bundle and re-sends those messages with their original ids, so
// nothing shows twice.

const (
	typeReset = 3 // envelope content type of a reset request

	resetVersion = 0x01
	resetLabel   = "hush/v1 session reset"
	resetSize    = 1 + 16 + 8 + identity.SignatureSize

	// resetAskEvery bounds how often a device asks one peer device for a
	// reset: one request covers every message sent after the one it names.
	resetAskEvery = time.Minute
	// maxResend bounds the messages re-sent for one request.
	maxResend = 500
	// resetMaxAge is how old a reset request may be (by its own clock)
	// when it is honoured.
	resetMaxAge = 7 * 24 * time.Hour
)

// resetSigned is what a reset request signs: both addresses, the message
// that could not be read and the requester's clock.
func resetSigned(from, to envelope.Address, failed [16]byte, ts int64) []byte {
	w := wire.NewWriter(make([]byte, 0, 2*(1+32+4)+16+8))
	for _, a := range []envelope.Address{from, to} {
		w.Bytes8([]byte(a.User))
		w.U32(a.Device)
	}
	w.Fixed(failed[:])
	w.U64(uint64(ts))
	return w.Bytes()
}

// encodeReset makes the payload of a reset request.
func encodeReset(id *identity.IdentityPrivateKey, from, to envelope.Address, failed [16]byte, ts int64) []byte {
	w := wire.NewWriter(make([]byte, 0, resetSize))
	w.U8(resetVersion)
	w.Fixed(failed[:])
	w.U64(uint64(ts))
	w.Fixed(id.Sign(resetLabel, resetSigned(from, to, failed, ts)))
	return w.Bytes()
}

// decodeReset checks a reset request from `from` to `to` against the
// sender's pinned identity key and returns the message it names and its
// time.
func decodeReset(key *identity.IdentityKey, from, to envelope.Address, payload []byte) (failed [16]byte, ts int64, err error) {
	r := wire.NewReader("reset request", payload)
	r.Version(resetVersion)
	copy(failed[:], r.Fixed("message_id", 16))
	ts = int64(r.U64("timestamp"))
	sig := r.Fixed("signature", identity.SignatureSize)
	if err := r.Done(); err != nil {
		return failed, 0, err
	}
	// Only the peer can ask: a reset costs a prekey and re-sends history.
	if err := key.Verify(resetLabel, resetSigned(from, to, failed, ts), sig); err != nil {
		return failed, 0, err
	}
	return failed, ts, nil
}

// resetState is what a device remembers of resets with one peer device.
type resetState struct {
	AskedAt   int64 `json:"asked_at,omitempty"`   // Unix ms of the last request sent
	HonouredT int64 `json:"honoured_t,omitempty"` // timestamp of the last request honoured
}

func resetName(user string, device uint32) string { return fmt.Sprintf("reset/%d/%s", device, user) }

func getReset(tx *localstore.Tx, user string, device uint32) (resetState, error) {
	var st resetState
	b, err := tx.GetSecret(resetName(user, device))
	if errors.Is(err, localstore.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	return st, decodeJSON(b, &st, "reset")
}

// unreadable marks a dropped ratchet message that a new session would let
// the peer send again.
type unreadable struct {
	from   envelope.Address
	failed [16]byte
}

// askReset sends peer a reset request naming the message it could not
// read, unless one went to that device within resetAskEvery. It reports
// whether a request was queued.
func (c *Client) askReset(ctx context.Context, u unreadable) (bool, error) {
	rec, err := c.storedOrFetched(ctx, u.from.User)
	if err != nil {
		return false, err
	}
	var dev *contactDevice
	for i := range rec.Devices {
		if rec.Devices[i].ID == u.from.Device {
			dev = &rec.Devices[i]
		}
	}
	if dev == nil || rec.Changed {
		return false, nil
	}
	cert, err := identity.ParseDeviceCert(dev.Cert)
	if err != nil {
		return false, err
	}
	now := c.now()
	self := envelope.Address{User: c.prof.Username, Device: c.dev.ID()}
	queued := false
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		st, err := getReset(tx, u.from.User, u.from.Device)
		if err != nil {
			return err
		}
		if now.Sub(time.UnixMilli(st.AskedAt)) < resetAskEvery {
			return nil
		}
		var id [16]byte
		rand.Read(id[:])
		env, err := envelope.Seal(cert.Envelope, &envelope.Content{Sender: self, Recipient: u.from,
			MessageID: id, Timestamp: now.UnixMilli(), Type: typeReset,
			Payload: encodeReset(c.id, self, u.from, u.failed, now.UnixMilli())})
		if err != nil {
			return err
		}
		st.AskedAt = now.UnixMilli()
		if err := tx.PutSecret(resetName(u.from.User, u.from.Device), encodeJSON(st)); err != nil {
			return err
		}
		queued = true
		_, err = enqueue(tx, &outboxRecord{What: "session reset request to " + u.from.User, Created: now.UnixMilli(),
			Sends: []outboxSend{{Mailboxes: []string{dev.Mailbox}, Users: []string{u.from.User}, Env: env}}})
		return err
	})
	if err != nil || !queued {
		return false, err
	}
	return true, c.flushNow(ctx)
}

// resetRequested is a checked reset request: the peer device that asked
// and the message it could not read. handle returns it as an error for
// process to act on after the receive transaction.
type resetRequested struct {
	from   envelope.Address
	failed [16]byte
}

func (r *resetRequested) Error() string {
	return fmt.Sprintf("%s (device %d) asked for a new session", r.from.User, r.from.Device)
}

// honourReset checks a reset request in content and, when it is genuine
// and new, drops the session with the requesting device. It runs inside
// the receive transaction; the new session and the re-sends follow it.
func (c *Client) honourReset(tx *localstore.Tx, content *envelope.Content, rec *contactRecord) (*resetRequested, error) {
	from := content.Sender
	key, err := identity.NewIdentityKey(rec.IdentityKey)
	if err != nil {
		return nil, err
	}
	self := envelope.Address{User: c.prof.Username, Device: c.dev.ID()}
	failed, ts, err := decodeReset(key, from, self, content.Payload)
	if err != nil {
		return nil, drop("reset request from %s: %w", from.User, err)
	}
	st, err := getReset(tx, from.User, from.Device)
	if err != nil {
		return nil, err
	}
	// A replayed request (the relay sending an old one again) must not
	// make this device start over and re-send again.
	if ts <= st.HonouredT || c.now().Sub(time.UnixMilli(ts)) > resetMaxAge {
		return nil, nil
	}
	st.HonouredT = ts
	if err := tx.PutSecret(resetName(from.User, from.Device), encodeJSON(st)); err != nil {
		return nil, err
	}
	// The session no longer sends (the re-sends start a new one) and the
	// tagged sender goes with it; the session is archived, to read what
	// the peer sent on it before it sees the new one (an offer of envelope
	// keys, say), and the tagged receiver stays, so envelopes the peer
	// sealed to it still open.
	s, err := getSession(tx, from.User, from.Device)
	switch {
	case errors.Is(err, localstore.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		next := sessionRecord{TagRecv: s.TagRecv, TagOld: s.TagOld, Archived: s.Archived}
		if s.Has() {
			next.Archive(s.State, s.BaseKey)
		}
		if err := putSession(tx, from.User, from.Device, &next); err != nil {
			return nil, err
		}
	}
	return &resetRequested{from: from, failed: failed}, nil
}

// resend sends again, over a new session with the requesting device only,
// the outgoing messages of the conversation from the one the request
// names on (within the last maxResend messages). It returns how many it
// queued.
func (c *Client) resend(ctx context.Context, r *resetRequested) (int, error) {
	rec, err := c.contactForSend(ctx, r.from.User)
	if err != nil {
		return 0, err
	}
	var dev *contactDevice
	for i := range rec.Devices {
		if rec.Devices[i].ID == r.from.Device {
			dev = &rec.Devices[i]
		}
	}
	if dev == nil || rec.Changed {
		return 0, fmt.Errorf("%s device %d is no longer listed: nothing re-sent", r.from.User, r.from.Device)
	}
	one := *rec
	one.Devices = []contactDevice{*dev}
	bundles, err := c.bundlesFor(ctx, &one)
	if err != nil {
		return 0, err
	}
	failedID := hex.EncodeToString(r.failed[:])
	n := 0
	c.mu.Lock()
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		recs, err := tx.History(r.from.User, maxResend)
		if err != nil {
			return err
		}
		// From the named message on, if it is one of ours; if it is not (a
		// group control message, say), nothing needs sending again.
		var out []messageRecord
		found := false
		for _, b := range recs {
			var m messageRecord
			if err := decodeJSON(b, &m, "message"); err != nil {
				return err
			}
			found = found || (m.ID == failedID && m.Outgoing)
			if found && m.Outgoing {
				out = append(out, m)
			}
		}
		for _, m := range out {
			id, err := hex.DecodeString(m.ID)
			if err != nil || len(id) != 16 {
				continue
			}
			pt := m.encodeApp()
			o, err := c.encryptFor(tx, r.from.User, *dev, bundles[dev.ID], pt, [16]byte(id), m.SentAt)
			if err != nil {
				return err
			}
			if _, err := enqueue(tx, &outboxRecord{What: "re-sent message to " + r.from.User, Created: c.now().UnixMilli(),
				Sends: []outboxSend{{Mailboxes: []string{o.mailbox}, Users: []string{r.from.User}, Env: o.env}}}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return n, c.flushNow(ctx)
}

// SessionResetError reports a session recovery step: this device could
// not read a message and asked the sender to start over (Asked), or a
// peer asked, and this device started a new session and sent its
// messages again (Resent of them).
type SessionResetError struct {
	Peer   string
	Device uint32
	Asked  bool
	Resent int
	Reason error // why the message could not be read (Asked)
}

func (e *SessionResetError) Error() string {
	if e.Asked {
		return fmt.Sprintf("could not read a message from %s (device %d): %v; asked %s to start a new session and send it again",
			e.Peer, e.Device, e.Reason, e.Peer)
	}
	return fmt.Sprintf("%s (device %d) could not read our messages (its profile may have been restored from a backup): started a new session and sent %d message(s) again",
		e.Peer, e.Device, e.Resent)
}

// Unwrap returns Reason.
func (e *SessionResetError) Unwrap() error { return e.Reason }

// Is makes an envelope this device could not read (Asked) match
// ErrRefused: it was acknowledged, and only the sender's new session
// brings its message again.
func (e *SessionResetError) Is(target error) bool { return e.Asked && target == ErrRefused }
