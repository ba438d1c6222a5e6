package hush

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/sessbook"
	"github.com/hush-chat/hush/internal/tagged"
)

// Tagged envelopes (doc/SPEC.md §14.8). Each session record holds a
// tagged sender (the epoch the peer offered this device) and receiver (the
// epochs this device offered the peer), stored with the ratchet state in
// the transaction that uses them, so a position is never used twice. The
// tag table maps the tags the stored receivers hold to their session and
// keeps the tag keys of their continuable epochs, to find a tag beyond the
// window it holds (after a gap) with one block decryption per epoch; it is
// built at Open and follows each offer, each open that moves an epoch's
// window, and each dropped session after the transaction that stored it
// commits (Tx.AfterCommit).
//
// A device offers an epoch to every peer device it has a session with:
// when its receiver holds none, when the newest epoch has opened 32
// positions, when a new session starts with the device, and (the pending
// epoch again, or a fresh one) when a sealed message arrives from it: a
// peer that seals means it holds no usable position. The offer is an
// application message of kind 0x08 queued in the outbox in the same
// transaction as the receiver state that made it.

// tagTable is the Client's tag table, safe for concurrent use.
type tagTable struct {
	mu sync.Mutex
	t  *tagged.Table[sessionKey]
}

func newTagTable() *tagTable { return &tagTable{t: tagged.NewTable[sessionKey]()} }

// lookup returns the session of tag g: by the window the table holds, else
// by a trial of the continuable epochs' tag keys (a gap).
func (t *tagTable) lookup(g tagged.Tag) (sessionKey, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t.Lookup(g)
}

// owner returns the session whose window holds tag g (no trial).
func (t *tagTable) owner(g tagged.Tag) (sessionKey, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t.Owner(g)
}

func (t *tagTable) apply(k sessionKey, d tagged.Delta) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.t.Apply(k, d)
}

// applyAll applies one session's deltas in the order they were made.
func (t *tagTable) applyAll(k sessionKey, ds []tagged.Delta) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range ds {
		t.t.Apply(k, d)
	}
}

func (t *tagTable) forget(k sessionKey, tags []tagged.Tag) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.t.Forget(k, tags)
}

// loadTags builds the tag table from the stored receivers of every
// contact's devices.
func (c *Client) loadTags(ctx context.Context) error {
	return c.st.View(ctx, func(tx *localstore.Tx) error {
		return forEachContactDevice(tx, func(user string, device uint32) error {
			s, err := getSession(tx, user, device)
			if errors.Is(err, localstore.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			held, err := sessbook.RecordHeld(&s)
			if err != nil {
				return fmt.Errorf("client: session with %s device %d: %w", user, device, err)
			}
			c.tags.apply(sessionKey{user, device}, held)
			return nil
		})
	})
}

// forEachContactDevice calls fn for every device of every stored contact.
func forEachContactDevice(tx *localstore.Tx, fn func(user string, device uint32) error) error {
	recs, err := tx.ListContacts()
	if err != nil {
		return err
	}
	for _, b := range recs {
		var r contactRecord
		if err := decodeJSON(b, &r, "contact"); err != nil {
			return err
		}
		for _, d := range r.Devices {
			if err := fn(r.Username, d.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasSession reports whether a ratchet session with device of user is
// stored (a record may hold only a tagged receiver, after a reset).
func hasSession(tx *localstore.Tx, user string, device uint32) (bool, error) {
	s, err := getSession(tx, user, device)
	if errors.Is(err, localstore.ErrNotFound) {
		return false, nil
	}
	return s.Has(), err
}

// dropSession deletes the session with device of user, tagged state
// included, and unmaps its tags once tx commits.
func dropSession(tx *localstore.Tx, c *Client, user string, device uint32) error {
	s, err := getSession(tx, user, device)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil
	}
	if err != nil && !errors.Is(err, sessbook.ErrCorrupt) {
		return err
	}
	if tags, terr := sessbook.RecordTags(&s); terr == nil && len(tags) > 0 {
		k := sessionKey{user, device}
		tx.AfterCommit(func() { c.tags.forget(k, tags) })
	}
	return tx.DeleteSession(user, device)
}

// retireSession drops the session with device of user in a profile found
// restored from an older copy: the ratchet state goes (session recovery
// starts a new one), the tagged sender too (it would seal at positions
// already used), and the receiver is retired (sessbook.Record.TagOld): it
// still opens and attributes what the peer seals to it, so session
// recovery can ask for those messages, but never offers again, since the
// peer may have used its pending batch after the copy was made. The next
// offer is a fresh batch.
func retireSession(tx *localstore.Tx, user string, device uint32) error {
	s, err := getSession(tx, user, device)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil
	}
	if err != nil && !errors.Is(err, sessbook.ErrCorrupt) {
		return err
	}
	old := s.TagRecv
	if len(old) == 0 {
		old = s.TagOld
	}
	if len(old) == 0 {
		return tx.DeleteSession(user, device)
	}
	return putSession(tx, user, device, &sessionRecord{TagOld: old})
}

// offerIfDue stores sess (the session with device d of user, as it stands
// after a send or receive step) and, when the device is due a batch of
// tagged envelope keys, makes the offer, stores the receiver with it and
// queues the offer in the outbox, all in tx. sealed says a sealed message
// just arrived from the device: it gets the pending batch again, or a
// fresh one. Nothing is offered on a record without a ratchet session,
// nor while the peer has not answered a session this device started: the
// offer would travel as a prekey message, and the peer's first answer
// brings its own offer, which this device answers with one.
func (c *Client) offerIfDue(tx *localstore.Tx, user string, d contactDevice, sess *sessionRecord, sealed bool) error {
	if !sess.Has() || sess.PreKey != nil || !sessbook.OfferDue(sess, sealed) {
		return putSession(tx, user, d.ID, sess)
	}
	// OfferDue set by a refill (OpenRecord) asks for a fresh batch, which
	// is what MakeOffer gives once the newest batch has opened something.
	o, err := sessbook.MakeOffer(sess.TagRecv, sealed || sess.OfferDue)
	if err != nil {
		return err
	}
	if o == nil {
		sess.OfferDue = false
		return putSession(tx, user, d.ID, sess)
	}
	sess.TagRecv, sess.OfferDue = o.Recv, false
	if err := putSession(tx, user, d.ID, sess); err != nil {
		return err
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	now := c.now().UnixMilli()
	out, next, err := c.sealFor(tx, user, d, nil, encodeOffer(o.Offer), id, now)
	if err != nil {
		return err
	}
	*sess = next
	if _, err := enqueue(tx, &outboxRecord{What: "envelope keys for " + user, Created: now,
		Sends: []outboxSend{{Mailboxes: []string{out.mailbox}, Users: []string{user}, Env: out.env}}}); err != nil {
		return err
	}
	k, delta := sessionKey{user, d.ID}, o.Delta
	tx.AfterCommit(func() {
		c.tags.apply(k, delta)
		c.offered.Store(true)
		c.kickOutbox() // a running Listen sends it now
	})
	return nil
}

func encodeOffer(offer []byte) []byte {
	b := make([]byte, 0, 2+len(offer))
	return append(append(b, appVersion, appKindOffer), offer...)
}

// openTagged opens a tagged envelope (type 0x05): the tag names the
// session, whose stored receiver opens it. It returns the content and the
// session's receivers to store with what the message does; the table
// follows once tx commits (a read-only tx never does). An envelope no
// session expects, a replay, one too old or too far ahead, a forgery, or
// one naming another sender than its session's peer is refused (a
// *dropped error); nothing is stored.
func (c *Client) openTagged(tx *localstore.Tx, env []byte, self envelope.Address) (*envelope.Content, *sessionRecord, error) {
	g, err := tagged.ParseTag(env)
	if err != nil {
		return nil, nil, drop("cannot open: %w", err)
	}
	k, ok := c.tags.lookup(g)
	if !ok {
		return nil, nil, drop("cannot open: %w", tagged.ErrUnknownTag)
	}
	s, err := getSession(tx, k.user, k.device)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, nil, drop("cannot open: %w", tagged.ErrUnknownTag)
	}
	if err != nil {
		return nil, nil, err
	}
	content, next, delta, err := sessbook.OpenRecord(s, self, envelope.Address{User: k.user, Device: k.device}, env)
	if err != nil {
		return nil, nil, drop("cannot open a tagged envelope from %s device %d: %w", k.user, k.device, err)
	}
	tx.AfterCommit(func() { c.tags.apply(k, delta) })
	return content, &next, nil
}

// withTagged returns sess with the tagged receivers of opened, the record
// as it stands after a tagged envelope opened.
func withTagged(sess sessionRecord, opened *sessionRecord) sessionRecord {
	if opened != nil {
		sess.TagRecv, sess.TagOld = opened.TagRecv, opened.TagOld
		if opened.OfferDue {
			sess.OfferDue = true // the refill OpenRecord asked for: offer the next batch
		}
	}
	return sess
}

// offerAfterGap answers a tagged envelope refused as too far ahead (the
// peer's epoch moved more than tagged.MaxGap positions past what this
// device opened: the relay lost or expired that many envelopes): every
// later envelope of that epoch would be refused too, so the device offers
// the peer a fresh epoch, queued as any offer. Only one: while that offer
// is pending, another refusal offers nothing more. Best effort: a failure
// is logged, the refusal is reported anyway.
func (c *Client) offerAfterGap(ctx context.Context, env []byte) {
	g, err := tagged.ParseTag(env)
	if err != nil {
		return
	}
	k, ok := c.tags.lookup(g)
	if !ok {
		return
	}
	d, _, err := c.senderDevice(ctx, envelope.Address{User: k.user, Device: k.device})
	if err != nil {
		c.log.Debug("no offer after a gap", "reason", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		sess, err := getSession(tx, k.user, k.device)
		if err != nil {
			return err
		}
		inUse, err := sessbook.InUse(sess.TagRecv)
		if err != nil || !inUse || !sess.Has() {
			return err
		}
		sess.OfferDue = true // a fresh epoch, since the newest is in use
		return c.offerIfDue(tx, k.user, d, &sess, false)
	})
	if err != nil {
		c.log.Debug("no offer after a gap", "reason", err)
	}
}
