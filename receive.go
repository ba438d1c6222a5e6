package hush

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/ratchet"
	"github.com/hush-chat/hush/internal/sessbook"
	"github.com/hush-chat/hush/internal/session"
	"github.com/hush-chat/hush/internal/tagged"
)

// news are events about an envelope that was received and applied (a
// group change, a join request, warnings about member keys): it is
// acknowledged and each event reported.
type news []Event

func (n news) Error() string {
	var s []string
	for _, e := range n {
		switch {
		case e.Group != nil:
			s = append(s, e.Group.String())
		case e.Err != nil:
			s = append(s, e.Err.Error())
		}
	}
	return strings.Join(s, "\n")
}

// dropped is an envelope the client refuses for good: it is acknowledged
// (so a hostile or broken sender cannot clog the mailbox) and reported.
type dropped struct {
	reason error
	unread *unreadable // a ratchet message a new session would bring again
}

// errNoSession: a ratchet message from a device this one has no session with.
var errNoSession = errors.New("no session")

func (d *dropped) Error() string { return "dropped an incoming envelope: " + d.reason.Error() }
func (d *dropped) Unwrap() error { return d.reason }

// Is makes every dropped envelope match ErrRefused.
func (d *dropped) Is(target error) bool { return target == ErrRefused }

func drop(format string, args ...any) error { return &dropped{reason: fmt.Errorf(format, args...)} }

// handle processes one incoming envelope. It returns the new message (nil
// for a duplicate), or an error: a *dropped error means "acknowledge and
// report"; any other error means the envelope must not be acknowledged
// (a local failure; it will come again).
//
// shows says whether the caller shows a message of that conversation to
// the user as it arrives; the others are stored marked unshown (nil: none
// is shown).
func (c *Client) handle(ctx context.Context, env []byte, shows func(peer string) bool) (*Message, error) {
	if len(env) > 0 && env[0] == groupEnvelope { // groups: a fan-out group message, no sealed envelope
		return c.handleGroupMessage(ctx, env[1:], shows)
	}
	self := envelope.Address{User: c.prof.Username, Device: c.dev.ID()}
	isTagged := len(env) > 0 && env[0] == tagged.Type
	var content *envelope.Content
	var err error
	if isTagged {
		// Opened here to learn the sender, and again in the transaction
		// below from the receiver state it commits to.
		err = c.st.View(ctx, func(tx *localstore.Tx) (err error) { content, _, err = c.openTagged(tx, env, self); return err })
		if errors.Is(err, tagged.ErrReplay) {
			// A position opens only in the transaction that stores what
			// its envelope brought: this one is stored already. The relay
			// sends a page again when an acknowledgement was lost; a
			// replay is that, and as harmless.
			c.log.Debug("dropped a tagged envelope received before", "reason", err)
			return nil, nil
		}
		if errors.Is(err, tagged.ErrTooFarAhead) {
			c.offerAfterGap(ctx, env) // the peer needs a fresh epoch
		}
	} else if content, err = envelope.Open(c.dev.EnvelopeKey(), self, env); err != nil {
		err = drop("cannot open: %w", err)
	}
	if err != nil {
		return nil, err
	}
	sender := content.Sender.User
	d, rec, err := c.senderDevice(ctx, content.Sender)
	if err == nil && !setUpUnderPinnedKey(content, rec) {
		// A session set up under another identity key: the sender has a
		// new key the directory may not have shown this client yet.
		if rec, err = c.refreshContact(ctx, sender); err == nil && rec.Changed {
			err = errSenderKeyChanged
		} else if errors.Is(err, ErrUnknownUser) {
			err = drop("claims to be from unknown user %q", sender)
		} else if err == nil {
			// A signed rotation was adopted: the device is the new key's.
			d, err = deviceOf(rec, content.Sender.Device)
		}
	}
	if errors.Is(err, errSenderKeyChanged) {
		return nil, c.hold(ctx, sender, env)
	}
	if err != nil {
		return nil, err
	}
	var msg *messageRecord
	var refused error // groups: a group control message refused (or held) after its session step
	var events news   // groups: changes applied, join requests, member keys that differ from the pinned ones
	c.mu.Lock()
	defer c.mu.Unlock()
	if content.Type == typeReset { // session recovery (reset.go)
		var req *resetRequested
		err := c.st.Update(ctx, func(tx *localstore.Tx) (err error) {
			req, err = c.honourReset(tx, content, rec)
			return err
		})
		if err == nil && req != nil {
			return nil, req
		}
		return nil, err
	}
	var g gap
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		var opened *sessionRecord // the tagged receivers after this envelope
		if isTagged {
			var err error
			if _, opened, err = c.openTagged(tx, env, self); err != nil {
				return err
			}
		}
		pt, sess, ring, err := c.decrypt(tx, content, d, rec, &g)
		if err != nil {
			return err
		}
		sess = withTagged(sess, opened)
		kind, body, err := decodeApp(pt)
		if err != nil {
			// Authentic, but of a kind this client does not know (a newer
			// peer's) or malformed: reported, and the session step kept so
			// that the next message does not count it missing, and a
			// redelivery is known as such.
			return refuseContent(tx, content, d.ID, sess, ring, &refused, drop("from %s: %w", sender, err))
		}
		if kind == appKindOffer { // a batch of envelope keys: kept, shown nothing
			next, err := sessbook.AcceptOffer(sess.TagSend, body)
			switch {
			case errors.Is(err, tagged.ErrStaleOffer):
				// An older offer overtaken by a newer one: nothing to do.
				c.log.Debug("ignored a stale envelope key offer", "from", sender)
			case err != nil:
				return refuseContent(tx, content, d.ID, sess, ring, &refused, drop("from %s: %w", sender, err))
			default:
				sess.TagSend = next
			}
			if err := rememberControl(tx, sender, content.MessageID); err != nil {
				return err
			}
			return c.commitReceived(tx, sender, d, &sess, ring, !isTagged)
		}
		if kind == appKindRecoveryShare || kind == appKindTranscript {
			// A share to hold for the sender (recovery.go) or what this
			// user sent from another device (transcript.go): stored, shown
			// nothing. A refused one is reported; a local failure rolls
			// back, so the envelope comes again.
			store := c.storeTranscript
			if kind == appKindRecoveryShare {
				store = func(tx *localstore.Tx, content *envelope.Content, body []byte) error {
					return c.storeShare(tx, content, rec, body)
				}
			}
			var dr *dropped
			if err := store(tx, content, body); errors.As(err, &dr) {
				return refuseContent(tx, content, d.ID, sess, ring, &refused, err)
			} else if err != nil {
				return err
			}
			if err := rememberControl(tx, sender, content.MessageID); err != nil {
				return err
			}
			return c.commitReceived(tx, sender, d, &sess, ring, !isTagged)
		}
		if isGroupControl(kind) { // groups: control messages are applied, not stored as messages
			if events, refused, err = c.receiveGroupControl(tx, content.Sender, kind, body); err != nil {
				return err
			}
			if err := rememberControl(tx, sender, content.MessageID); err != nil {
				return err
			}
			return commitSession(tx, sender, d.ID, sess, ring)
		}
		now := c.now()
		m := messageRecord{ID: messageIDString(content.MessageID), Peer: sender, From: sender,
			FromDevice: content.Sender.Device, To: self.User, SentAt: content.Timestamp,
			ReceivedAt: now.UnixMilli(), State: StateReceived, Late: g.late, Missing: g.missing, Chain: g.chain, N: g.n}
		switch kind {
		case appKindFile:
			// Stored without downloading; a memo is fetched after commit.
			if m.Attachment, err = decodeFile(body); err != nil {
				return refuseContent(tx, content, d.ID, sess, ring, &refused, drop("from %s: %w", sender, err))
			}
		case appKindData:
			if m.Data, err = decodeData(body); err != nil {
				return refuseContent(tx, content, d.ID, sess, ring, &refused, drop("from %s: %w", sender, err))
			}
		default:
			m.Text = string(body)
		}
		// Unshown until a user interface shows it (MarkShown).
		fresh, err := tx.AddIncoming(sender, content.MessageID[:], now, encodeJSON(m), shows == nil || !shows(sender))
		if err != nil {
			return err
		}
		if fresh {
			msg = &m
		}
		return c.commitReceived(tx, sender, d, &sess, ring, !isTagged)
	})
	var dr *dropped
	if errors.As(err, &dr) && (content.Type == typeRatchet || content.Type == typePreKey) {
		// A message this device cannot read: unless it is a redelivery of
		// a message already stored, a new session lets the sender send it
		// again.
		stored := false
		if errors.Is(err, ratchet.ErrReplay) {
			var serr error
			if stored, serr = c.storedMessage(ctx, sender, content.MessageID); serr != nil {
				return nil, serr
			}
		}
		switch {
		case stored:
			return nil, nil
		case errors.Is(dr, ratchet.ErrReplay), errors.Is(dr, ratchet.ErrAuth), errors.Is(dr, ratchet.ErrTooFarAhead), errors.Is(dr, errNoSession):
			dr.unread = &unreadable{from: content.Sender, failed: content.MessageID}
		}
		return nil, dr
	}
	if errors.As(err, &dr) && errors.Is(err, ratchet.ErrReplay) {
		return nil, nil // a redelivery of a message already stored
	}
	var gh *groupHeldErr
	if err == nil && refused != nil && (errors.As(refused, &gh) || errors.As(refused, &dr)) {
		return nil, refused
	}
	if err == nil && refused != nil {
		return nil, &dropped{reason: refused}
	}
	if err == nil && len(events) > 0 {
		return nil, events
	}
	if err != nil || msg == nil {
		return nil, err
	}
	pm := msg.public()
	return &pm, nil
}

// commitReceived stores the session (and the keyring a new session
// consumed) after a received message, with an offer of envelope keys if
// one is due (sealed: the message came in a sealed envelope).
func (c *Client) commitReceived(tx *localstore.Tx, sender string, d contactDevice, sess *sessionRecord, ring *pqxdh.Keyring, sealed bool) error {
	if ring != nil {
		if err := tx.PutSecret(secretKeyring, ring.Marshal()); err != nil {
			return err
		}
	}
	return c.offerIfDue(tx, sender, d, sess, sealed)
}

// refuseContent commits the session step of an authentic message whose
// content is refused, remembers its id, and sets *refused to why.
func refuseContent(tx *localstore.Tx, content *envelope.Content, device uint32, sess sessionRecord, ring *pqxdh.Keyring, refused *error, why error) error {
	if err := rememberControl(tx, content.Sender.User, content.MessageID); err != nil {
		return err
	}
	*refused = why
	return commitSession(tx, content.Sender.User, device, sess, ring)
}

// errSenderKeyChanged: the envelope's sender has an identity key change
// the user has not decided on; the envelope is held (held.go).
var errSenderKeyChanged = errors.New("sender's identity key changed")

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
		return contactDevice{}, nil, errSenderKeyChanged
	}
	return contactDevice{}, nil, drop("from %s device %d, which the directory does not list", from.User, from.Device)
}

// deviceOf returns device id of rec.
func deviceOf(rec *contactRecord, id uint32) (contactDevice, error) {
	for _, d := range rec.Devices {
		if d.ID == id {
			return d, nil
		}
	}
	return contactDevice{}, drop("from %s device %d, which the directory does not list", rec.Username, id)
}

// setUpUnderPinnedKey reports whether content is not a prekey message, or
// one whose initiator carries the contact's pinned identity key. A prekey
// message that does not parse counts as pinned: decrypt refuses it.
func setUpUnderPinnedKey(content *envelope.Content, rec *contactRecord) bool {
	if content.Type != typePreKey {
		return true
	}
	pm, err := pqxdh.ParsePreKeyMessage(content.Payload)
	return err != nil || bytes.Equal(pm.Header.Initiator.Identity.Bytes(), rec.IdentityKey)
}

// decrypt runs the session step for content and returns the plaintext, the
// session to store and, when a new session consumed prekeys, the keyring.
//
// g receives what the ratchet could tell about order: whether the message
// arrived after later ones, and how many earlier ones it shows missing.
func (c *Client) decrypt(tx *localstore.Tx, content *envelope.Content, d contactDevice, rec *contactRecord, g *gap) ([]byte, sessionRecord, *pqxdh.Keyring, error) {
	sess, have, err := loadSession(tx, content.Sender.User, d.ID)
	if err != nil {
		return nil, sess, nil, err
	}
	return c.decryptWith(tx, content, d, rec, sess, have, g)
}

// loadSession returns the stored session with device of sender, and
// whether there is one.
func loadSession(tx *localstore.Tx, sender string, device uint32) (sessionRecord, bool, error) {
	sess, err := getSession(tx, sender, device)
	if errors.Is(err, localstore.ErrNotFound) {
		return sessionRecord{}, false, nil
	}
	if err != nil {
		return sess, false, err
	}
	return sess, sess.Has(), nil
}

// decryptWith is decrypt on the session sess (have: there is one),
// already loaded. It reads tx only for the keyring, when a prekey message
// sets a new session up, and writes nothing; it may change the states
// in sess.Archived in place.
func (c *Client) decryptWith(tx *localstore.Tx, content *envelope.Content, d contactDevice, rec *contactRecord, sess sessionRecord, have bool, g *gap) ([]byte, sessionRecord, *pqxdh.Keyring, error) {
	sender := content.Sender.User
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
			pt, state, err := openWith(sess.State, pm.Message, sender, g)
			sess.State = state
			return pt, sess, nil, err
		}
		for i := range sess.Archived {
			if bytes.Equal(sess.Archived[i].BaseKey, base) {
				pt, state, err := openWith(sess.Archived[i].State, pm.Message, sender, g)
				sess.Archived[i].State = state
				return pt, sess, nil, err
			}
		}
		pt, accepted, ring, err := c.accept(tx, content, pm)
		if err == nil {
			g.setupOrder(pm.Message, accepted.State)
			// A new session: the peer started afresh and may hold none of
			// this device's batches, nor offer the ones this device was
			// sealing to again. The receiver stays (envelopes sealed to
			// it may be on their way) and offers the peer a batch.
			accepted.TagRecv, accepted.TagOld, accepted.OfferDue = sess.TagRecv, sess.TagOld, true
		}
		if err != nil || !have {
			return pt, accepted, ring, err
		}
		// A second session with this device: both sides started one at
		// once, or the peer started afresh. Both sides must agree on which
		// one carries what follows; the other is kept to read what was
		// already sent on it.
		if sess.PreKey != nil && c.winsTie(content.Sender) {
			sess.Archive(accepted.State, accepted.BaseKey)
			return pt, sess, ring, nil
		}
		accepted.Archived = sess.Archived
		accepted.Archive(sess.State, sess.BaseKey)
		return pt, accepted, ring, nil
	case typeRatchet:
		err := drop("from %s device %d: %w", sender, d.ID, errNoSession)
		if have {
			var pt, state []byte
			pt, state, err = openWith(sess.State, content.Payload, sender, g)
			if err == nil {
				sess.State = state
				sess.PreKey = nil // the peer answered: the session is established
				return pt, sess, nil, nil
			}
		}
		// Archived sessions (a reset honoured archives the one it ends).
		for i := range sess.Archived {
			if apt, astate, aerr := openWith(sess.Archived[i].State, content.Payload, sender, g); aerr == nil {
				sess.Archived[i].State = astate
				return apt, sess, nil, nil
			}
		}
		return nil, sess, nil, err
	default:
		return nil, sess, nil, drop("from %s: unknown content type %d", sender, content.Type)
	}
}

// gap is what one decryption tells about order. The ratchet keeps a key for
// every message it skipped (doc/SPEC.md §5.8): a message that makes it
// store keys shows that many earlier ones missing, and a message opened
// with a stored key arrived after later ones.
type gap struct {
	late    bool
	missing int
	chain   string // the sender's sending chain (its ratchet key, shortened)
	n       uint32 // the message's number in that chain
}

// setupOrder fills g for the message that set a session up: its place in
// the sender's chain, and the earlier ones it shows missing.
func (g *gap) setupOrder(msg, state []byte) {
	if m, err := ratchet.ParseMessage(msg); err == nil {
		g.chain, g.n = hex.EncodeToString(m.Header.DH[:8]), m.Header.N
	}
	var st ratchet.State
	if st.UnmarshalBinary(state) == nil {
		g.missing = st.SkippedKeys()
	}
}

// openWith decrypts a ratchet message with a stored state and returns the
// plaintext and the advanced state (the old one on failure).
func openWith(state, msg []byte, sender string, g *gap) ([]byte, []byte, error) {
	dec, err := sessbook.Decrypt(state, msg)
	if errors.Is(err, sessbook.ErrCorrupt) {
		return nil, state, err
	}
	if err != nil {
		return nil, state, drop("from %s: %w", sender, err)
	}
	// Opening with a stored key deletes exactly it and stores nothing;
	// every other path only adds keys (evicting as many as it adds at
	// most), so the count tells which happened.
	g.late = dec.After == dec.Before-1
	g.missing = max(0, dec.After-dec.Before)
	if m, err := ratchet.ParseMessage(msg); err == nil {
		g.chain, g.n = hex.EncodeToString(m.Header.DH[:8]), m.Header.N
	}
	return dec.Plaintext, dec.State, nil
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
			return nil, sessionRecord{}, nil, &dropped{reason: fmt.Errorf("from %s: %w (%w)", content.Sender.User, err, ratchet.ErrReplay)}
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
func (c *Client) process(ctx context.Context, env []byte, shows func(string) bool, fn func(Event)) error {
	m, err := c.handle(ctx, env, shows)
	var events news
	if errors.As(err, &events) {
		err = nil // received and applied: the events follow
	}
	var gh *groupHeldErr
	if errors.As(err, &gh) {
		fn(Event{Err: err}) // kept: applied when what it waits for arrives
		c.sendGroupControls(ctx, fn)
		return nil
	}
	c.tellLostJoins(ctx) // a public-room join that lost a race here, refused or displaced
	if err == nil && m != nil && m.Attachment != nil && m.Attachment.Memo {
		c.fetchMemo(ctx, m) // best effort: on failure the memo stays fetchable with Download
	}
	var dr *dropped
	var he *heldErr
	var rr *resetRequested
	switch {
	case errors.As(err, &rr):
		n, rerr := c.resend(ctx, rr)
		if rerr != nil {
			fn(Event{Err: fmt.Errorf("%s (device %d) asked for a new session: %w", rr.from.User, rr.from.Device, rerr)})
			return nil
		}
		fn(Event{Err: &SessionResetError{Peer: rr.from.User, Device: rr.from.Device, Resent: n}})
		return nil
	case errors.As(err, &dr) && dr.unread != nil:
		if _, aerr := c.askReset(ctx, *dr.unread); aerr != nil {
			fn(Event{Err: fmt.Errorf("%w (asking %s for a new session failed: %v)", err, dr.unread.from.User, aerr)})
			return nil
		}
		fn(Event{Err: &SessionResetError{Peer: dr.unread.from.User, Device: dr.unread.from.Device, Asked: true, Reason: dr.reason}})
		return nil
	case errors.As(err, &dr):
		c.log.Warn("refused an incoming envelope", "reason", dr.reason)
		fn(Event{Err: err})
		return nil
	case errors.As(err, &he):
		fn(Event{Held: &he.Held})
		return nil
	case err != nil:
		return err
	case m != nil:
		fn(Event{Message: m})
	}
	for _, e := range events {
		fn(e)
	}
	if m == nil {
		// A group change or key may be what held group material waits for.
		if err := c.retryGroupHeld(ctx, shows, fn); err != nil {
			fn(Event{Err: fmt.Errorf("held group material: %w", err)})
		}
		c.announceRebased(ctx) // an own change that lost a race, remade
		c.republishStale(ctx)  // a group change may have moved a public room on
		c.sendGroupControls(ctx, fn)
	}
	return nil
}

// Listen receives live until ctx is done, calling fn for every new message
// and for every envelope it had to drop. It refills the directory's
// one-time prekeys when they run low, and retries queued sends. A message
// handed to fn counts as shown (see ListenShowing). It returns
// ErrProfileBusy at once when another Listen or Sync is receiving for the
// profile.
func (c *Client) Listen(ctx context.Context, fn func(Event)) error {
	return c.ListenShowing(ctx, func(string) bool { return true }, fn)
}

// ListenShowing is Listen for a user interface that shows only some
// conversations, such as a chat screen open on one: messages of a
// conversation for which shows returns false are still handed to fn, but
// stay unshown (Unshown returns them) until MarkShown.
func (c *Client) ListenShowing(ctx context.Context, shows func(peer string) bool, fn func(Event)) error {
	fn = typed(fn)
	unlock, err := c.lockReceive()
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.maintain(ctx, fn); err != nil {
		fn(Event{Err: fmt.Errorf("prekey maintenance: %w", err)})
	}
	c.confirmJoins(ctx) // a public-room join lost where no member could tell
	tr, err := c.transport(ctx)
	if err != nil {
		return serverErr(err)
	}
	// fn is called from the receive loop and from the outbox pump: one at
	// a time, so a caller's fn need not be safe for concurrent use.
	var fnMu sync.Mutex
	report := func(e Event) {
		fnMu.Lock()
		defer fnMu.Unlock()
		fn(e)
	}
	pumpCtx, stopPump := context.WithCancel(ctx)
	var pump sync.WaitGroup
	pump.Go(func() { c.pumpOutbox(pumpCtx, report) })
	pump.Go(func() { c.maintainLoop(pumpCtx, report) })
	defer func() { stopPump(); pump.Wait() }()
	err = tr.listen(ctx, func(env []byte) error { return c.process(ctx, env, shows, report) })
	if ctx.Err() != nil {
		return nil
	}
	return serverErr(err)
}

// pumpOutbox retries queued sends while Listen runs: at once, then
// whenever the earliest entry is due (at least every outboxPoll), and
// reports each message whose state changed.
func (c *Client) pumpOutbox(ctx context.Context, report func(Event)) {
	force := true
	for ctx.Err() == nil {
		rep, err := c.flushOutbox(ctx, flushOpts{force: force})
		if err != nil && ctx.Err() == nil {
			report(Event{Err: fmt.Errorf("outbox: %w", err)})
		}
		if rep != nil {
			for i := range rep.Delivered {
				report(Event{Sent: &rep.Delivered[i]})
			}
			for i := range rep.Failed {
				m := &rep.Failed[i]
				report(Event{Sent: m, Err: fmt.Errorf("%w: message %s to %s: %s", ErrSendRefused, m.ID, m.Peer, m.Error)})
			}
		}
		wait := outboxPoll
		if next, err := c.nextOutboxWake(ctx); err == nil && !next.IsZero() {
			wait = min(wait, max(time.Until(next), 100*time.Millisecond))
		}
		force = false
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		case <-c.outboxKick: // connected again: the server is back
			force = true
		}
	}
}

// Sync fetches everything pending, stores it, acknowledges it and returns
// the new messages in the order they arrived. They are stored unshown: a
// program that shows them calls MarkShown (Unshown also returns what an
// earlier, interrupted Sync stored). When it refused envelopes for good,
// the error is a *RefusedError listing every one (the messages are still
// returned); a failure after some refusals is its Err. While a Listen runs
// for the profile (here or in another process) it returns ErrProfileBusy
// instead of taking messages away from that listener.
func (c *Client) Sync(ctx context.Context) ([]Message, error) {
	var refused []error
	out, err := c.SyncEvents(ctx, func(e Event) {
		var dr *dropped
		var se *SessionResetError
		switch {
		case errors.As(e.Err, &dr):
			refused = append(refused, dr.reason)
		case errors.As(e.Err, &se) && se.Asked:
			refused = append(refused, se)
		}
	})
	if len(refused) > 0 {
		return out, &RefusedError{Reasons: refused, Err: err}
	}
	return out, err
}

// SyncEvents is Sync, calling fn (if not nil) for every event that is not
// a new message as it happens: envelopes refused (an Err that is a dropped
// envelope), held, group events, session recovery. It returns only
// failures that stopped it.
func (c *Client) SyncEvents(ctx context.Context, fn func(Event)) ([]Message, error) {
	fn = typed(fn)
	var out []Message
	unlock, err := c.lockReceive()
	if err != nil {
		return nil, err
	}
	defer unlock()
	tr, err := c.transport(ctx)
	if err != nil {
		return nil, serverErr(err)
	}
	report := func(e Event) {
		if e.Message != nil {
			out = append(out, *e.Message)
		} else if fn != nil {
			fn(e)
		}
	}
	if pd, ok := tr.(pageDrainer); ok { // a page per transaction: receive_batch.go
		var rc recvCache
		err = pd.drainPages(ctx, func(envs [][]byte) (int, error) { return c.processPage(ctx, envs, &rc, nil, report) })
	} else {
		err = tr.drain(ctx, func(env []byte) error { return c.process(ctx, env, nil, report) })
	}
	if err != nil {
		return out, serverErr(err)
	}
	// The order is the one History shows: as stored, each sender's
	// messages of one ratchet chain put back in the order of their
	// numbers (a plain broker may resend a queue out of order). The
	// sender's clock is not used: it may go back.
	orderByCounters(out)
	if c.offered.Swap(false) {
		// Offers of envelope keys made while receiving go out now, so the
		// peers' next messages are tagged; what fails stays queued.
		if _, err := c.flushOutbox(ctx, flushOpts{}); err != nil {
			return out, err
		}
	}
	c.confirmJoins(ctx) // a public-room join lost where no member could tell
	if err := c.maintain(ctx, fn); err != nil {
		return out, fmt.Errorf("prekey maintenance: %w", err)
	}
	return out, nil
}

// CheckReceive returns ErrProfileBusy when a Listen or Sync is receiving
// for the profile right now (in this or another process), so that a
// program can refuse to start before it would compete with it.
func (c *Client) CheckReceive() error {
	unlock, err := c.lockReceive()
	if err != nil {
		return err
	}
	unlock()
	return nil
}

// lockReceive takes the profile's receive lock (receive.lock in the
// profile directory), held while a Listen or Sync runs.
func (c *Client) lockReceive() (func(), error) {
	if c.home == "" {
		return func() {}, nil // a Store without a profile directory
	}
	return lockFile(filepath.Join(c.home, "receive.lock"))
}

// History returns the last limit messages of the conversation with peer,
// oldest first.
func (c *Client) History(ctx context.Context, peer string, limit int) ([]Message, error) {
	out, err := c.readMessages(ctx, func(tx *localstore.Tx) ([][]byte, error) { return tx.History(peer, limit) })
	orderByCounters(out)
	return out, err
}

// Unshown returns the incoming messages stored but not yet marked shown,
// oldest first: what a chat screen open on another conversation fetched,
// or what a receive loop stored just before it was stopped. A program
// shows them and then calls MarkShown.
func (c *Client) Unshown(ctx context.Context) ([]Message, error) {
	out, err := c.readMessages(ctx, func(tx *localstore.Tx) ([][]byte, error) { return tx.Unshown(0) })
	orderByCounters(out)
	return out, err
}

// readMessages decodes the message records fetch returns, in its order.
func (c *Client) readMessages(ctx context.Context, fetch func(tx *localstore.Tx) ([][]byte, error)) ([]Message, error) {
	var out []Message
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := fetch(tx)
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

// MarkShown records that the user has seen these messages: Unshown no
// longer returns them.
func (c *Client) MarkShown(ctx context.Context, ms ...Message) error {
	if len(ms) == 0 {
		return nil
	}
	return c.st.Update(ctx, func(tx *localstore.Tx) error {
		for _, m := range ms {
			id, err := hex.DecodeString(m.ID)
			if err != nil {
				return fmt.Errorf("client: bad message id %q", m.ID)
			}
			if err := tx.SetUnshown(m.Peer, id, false); err != nil {
				return err
			}
		}
		return nil
	})
}

// storedMessage reports whether message id from peer is in the history,
// or was a group control message already applied.
func (c *Client) storedMessage(ctx context.Context, peer string, id [16]byte) (bool, error) {
	found := false
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		_, err := tx.GetMessage(peer, id[:])
		if errors.Is(err, localstore.ErrNotFound) {
			found, err = controlSeen(tx, peer, id)
			return err
		}
		found = err == nil
		return err
	})
	return found, err
}

// orderByCounters puts each sender device's messages of one ratchet chain
// in the order of their message numbers, keeping the places they occupy:
// messages of other senders and other chains stay where they arrived.
// This is the one order sync, listen, history and export show.
func orderByCounters(ms []Message) {
	type key struct {
		user, chain string
		device      uint32
	}
	slots := map[key][]int{}
	for i, m := range ms {
		if m.chain == "" || m.Outgoing {
			continue
		}
		k := key{m.From, m.chain, m.FromDevice}
		slots[k] = append(slots[k], i)
	}
	for _, idx := range slots {
		if len(idx) < 2 {
			continue
		}
		group := make([]Message, len(idx))
		for j, i := range idx {
			group[j] = ms[i]
		}
		slices.SortStableFunc(group, func(a, b Message) int { return cmp.Compare(a.n, b.n) })
		for j, i := range idx {
			ms[i] = group[j]
		}
	}
}
