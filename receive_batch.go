package hush

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/sessbook"
	"github.com/hush-chat/hush/internal/tagged"
)

// Batched receiving. Sync takes the relay's pending envelopes a page at a
// time, and stores the common case, a 1:1 text or file message on a
// session this device has (or one its prekey message sets up), for a whole
// run of such envelopes in one local transaction: one commit, one fsync,
// for up to a page, instead of one per message. The page is acknowledged
// to the relay only after that commit.
//
// Every other envelope (a group message, a session reset, one that does
// not open or decrypt, a sender whose key changed or who is not known yet,
// a group control message, a kind the batch does not store) ends the run:
// what the run stored is committed first, then that envelope goes through
// the per-message path (handle, process) exactly as it would alone, so it
// is refused, held, reported or applied as it always was and cannot
// disturb the messages around it. Nothing an envelope does reaches the
// transaction unless it authenticated and decoded: the session states of
// a run are kept in memory, and a message's new state replaces the old
// one there only when the message is stored.
//
// Listen stays per message: the relay's MQTT listener delivers envelopes
// one at a time, each acknowledged after its own commit, and a live
// conversation has rarely more than one waiting. A direct-mode drain
// (a plain broker) is per message too.
//
// A crash before a run's commit leaves the profile as it was before the
// run and nothing of the page acknowledged; the relay delivers the page
// again and it is processed from the committed state. Messages stored by
// a commit whose acknowledgement was lost come again and are recognised
// as already stored (a ratchet replay of a stored message, or an id the
// history has), so nothing shows twice.

// pageDrainer is a transport that hands over pending envelopes a page at
// a time. fn returns how many envelopes at the start of the page were
// handled (stored, or refused for good) and may be acknowledged, and an
// error if it stopped early for a local failure.
type pageDrainer interface {
	drainPages(ctx context.Context, fn func(envs [][]byte) (int, error)) error
}

// drainPageSize is how many envelopes Sync fetches, stores in one
// transaction and acknowledges at once: each page costs a fetch, a
// commit (an fsync) and an acknowledgement, so the larger the fewer. A
// variable for tests.
var drainPageSize = 500

// drainPages overlaps the relay's work with the client's: while fn
// stores a page, the next one is being fetched, and a page's
// acknowledgement goes out while fn stores the next. A page is still
// acknowledged only after fn returned for it (its transaction committed),
// and only what fn handled.
func (t *relayTransport) drainPages(ctx context.Context, fn func([][]byte) (int, error)) error {
	return t.withToken(ctx, func(s *apiclient.Session) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		p := pipe{t: t, s: s}
		defer p.wait() // no request outlives the drain
		next := p.fetch(ctx, 0)
		for {
			f := <-next
			if f.err != nil || len(f.page) == 0 {
				return errors.Join(f.err, p.acked())
			}
			next = p.fetch(ctx, f.page[len(f.page)-1].Seq) // the page after, while fn runs
			envs := make([][]byte, len(f.page))
			for i, e := range f.page {
				envs[i] = e.Envelope
			}
			n, ferr := fn(envs)
			done := make([]int64, n)
			for i := range n {
				done[i] = f.page[i].Seq
			}
			if ferr != nil {
				// Best effort, as the local failure is what to report: what
				// is not acknowledged comes again and is known as stored.
				// The previous page's acknowledgement runs under ctx: let it
				// end before cancelling the prefetch, or it is cut off and
				// that page comes again.
				_ = p.acked()
				cancel() // the prefetched page is not needed
				_ = t.ack(context.WithoutCancel(ctx), s, done)
				return ferr
			}
			if err := p.acked(); err != nil { // the previous page's
				return err
			}
			p.ackLater(ctx, done)
		}
	})
}

// pipe runs a drain's requests beside the client's work: one fetch and
// one acknowledgement at most in flight.
type pipe struct {
	t   *relayTransport
	s   *apiclient.Session
	wg  sync.WaitGroup
	ack chan error // the acknowledgement in flight, nil if none
}

type fetched struct {
	page []apiclient.Envelope
	err  error
}

// fetch asks for the page after seq and returns where it arrives.
func (p *pipe) fetch(ctx context.Context, after int64) <-chan fetched {
	ch := make(chan fetched, 1)
	p.wg.Go(func() {
		page, err := p.t.c.api.Fetch(ctx, p.s.Token, after, drainPageSize)
		ch <- fetched{page, err}
	})
	return ch
}

// ackLater acknowledges seqs in the background; acked waits for it.
func (p *pipe) ackLater(ctx context.Context, seqs []int64) {
	ch := make(chan error, 1)
	p.ack = ch
	p.wg.Go(func() { ch <- p.t.ack(ctx, p.s, seqs) })
}

// acked waits for the acknowledgement in flight, if any, and returns its
// error.
func (p *pipe) acked() error {
	if p.ack == nil {
		return nil
	}
	err := <-p.ack
	p.ack = nil
	return err
}

// wait waits for every request of the drain to end.
func (p *pipe) wait() { p.wg.Wait() }

// recvCache holds what one Sync reads once rather than per message.
type recvCache struct {
	contacts map[string]*contactRecord // decoded contact records by username
	gen      uint64                    // Client.contactsGen when contacts was filled
}

// contact returns user's stored record, from the cache while no contact
// has been written since it was read. It runs inside an Update, so a
// write that bumped the counter has committed (writers are serialized).
func (rc *recvCache) contact(c *Client, tx *localstore.Tx, user string) (*contactRecord, error) {
	if g := c.contactsGen.Load(); rc.contacts == nil || g != rc.gen {
		rc.contacts, rc.gen = map[string]*contactRecord{}, g
	}
	if r, ok := rc.contacts[user]; ok {
		return r, nil
	}
	r, err := getContact(tx, user)
	if errors.Is(err, localstore.ErrNotFound) {
		r, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	rc.contacts[user] = r
	return r, nil
}

// processPage receives a page of envelopes: runs of ordinary messages in
// one transaction each, everything else one by one through process. It
// returns how many envelopes at the start of envs it handled.
func (c *Client) processPage(ctx context.Context, envs [][]byte, rc *recvCache, shows func(string) bool, fn func(Event)) (int, error) {
	pre := c.openSealed(envs)
	done := 0
	for done < len(envs) {
		n, err := c.receiveRun(ctx, envs[done:], pre[done:], rc, shows, fn)
		if err != nil {
			return done, err
		}
		done += n
		if done == len(envs) {
			break
		}
		if err := c.process(ctx, envs[done], shows, fn); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// openSealed opens the sealed envelopes of a page (HPKE, the largest CPU
// cost of a backlog once the peer's tagged positions ran out) on all
// cores, before the page's transactions, which then only look the
// results up. An entry is nil for an envelope that is not sealed or did
// not open: the per-message path takes it. Opening changes no state, so
// doing it early and in parallel changes nothing the run does.
func (c *Client) openSealed(envs [][]byte) []*envelope.Content {
	pre := make([]*envelope.Content, len(envs))
	self := envelope.Address{User: c.prof.Username, Device: c.dev.ID()}
	key := c.dev.EnvelopeKey()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(envs)) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(envs); i = int(next.Add(1)) - 1 {
				env := envs[i]
				if len(env) == 0 || env[0] == groupEnvelope || env[0] == tagged.Type {
					continue
				}
				if content, err := envelope.Open(key, self, env); err == nil {
					pre[i] = content
				}
			}
		})
	}
	wg.Wait()
	return pre
}

// batched is one message of a run, stored or found already stored.
type batched struct {
	msg     *messageRecord // nil: already in the history, or an offer
	control bool           // an offer of envelope keys: nothing to show
}

// sessionKey names a session with one device of a contact.
type sessionKey struct {
	user   string
	device uint32
}

// runSession is a session as a run sees it: loaded once, updated in
// memory by each message stored, written once at commit.
type runSession struct {
	sess   sessionRecord
	have   bool
	dirty  bool
	d      contactDevice
	sealed bool           // a sealed envelope from the device was stored: offer again
	deltas []tagged.Delta // the tag table's changes by the opens stored, in order
}

// receiveRun stores the longest run at the start of envs that the batch
// handles, in one transaction, and reports the run's messages through fn
// after the commit. It returns the run's length: envs[n], if any, needs
// the per-message path.
func (c *Client) receiveRun(ctx context.Context, envs [][]byte, pre []*envelope.Content, rc *recvCache, shows func(string) bool, fn func(Event)) (int, error) {
	var out []batched
	c.mu.Lock()
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		out = out[:0]
		sessions := map[sessionKey]*runSession{}
		now := c.now()
		for i, env := range envs {
			b, ok, err := c.receiveOne(tx, env, pre[i], rc, sessions, now, shows)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			out = append(out, b)
		}
		for k, s := range sessions {
			if len(s.deltas) > 0 {
				// The tags the run's opens moved, in their order, once
				// the run is stored, and before an offer's (it may drop
				// an epoch they moved).
				k, ds := k, s.deltas
				tx.AfterCommit(func() { c.tags.applyAll(k, ds) })
			}
			if s.dirty {
				if err := c.offerIfDue(tx, k.user, s.d, &s.sess, s.sealed); err != nil {
					return err
				}
			}
		}
		return nil
	})
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if len(out) == 0 {
		return 0, nil
	}
	c.tellLostJoins(ctx)
	dup := false
	for _, b := range out {
		if b.control {
			continue
		}
		if b.msg == nil {
			dup = true
			continue
		}
		m := b.msg.public()
		if m.Attachment != nil && m.Attachment.Memo {
			c.fetchMemo(ctx, &m) // best effort, as in process
		}
		fn(Event{Message: &m})
	}
	if dup {
		// As process does after an envelope that brought no message.
		if err := c.retryGroupHeld(ctx, shows, fn); err != nil {
			fn(Event{Err: fmt.Errorf("held group material: %w", err)})
		}
		c.announceRebased(ctx)
		c.republishStale(ctx)
		c.sendGroupControls(ctx, fn)
	}
	return len(out), nil
}

// receiveOne stores env in tx if it is an ordinary message the batch
// handles. ok false (with a nil error) means env needs the per-message
// path; tx then holds nothing of it. An error is a local failure.
func (c *Client) receiveOne(tx *localstore.Tx, env []byte, pre *envelope.Content, rc *recvCache, sessions map[sessionKey]*runSession, now time.Time, shows func(string) bool) (b batched, ok bool, err error) {
	if len(env) > 0 && env[0] == groupEnvelope {
		return b, false, nil
	}
	self := envelope.Address{User: c.prof.Username, Device: c.dev.ID()}
	isTagged := len(env) > 0 && env[0] == tagged.Type
	var content *envelope.Content
	var opened *sessionRecord // the tagged receivers after env
	var delta tagged.Delta    // and the change to the tag table
	var rs *runSession
	if isTagged {
		g, err := tagged.ParseTag(env)
		if err != nil {
			return b, false, nil
		}
		// A tag beyond the committed window is most often one the run's
		// earlier envelopes of the same session moved to: those sessions
		// are tried before the table's trial over every session.
		k, found := c.tags.owner(g)
		for k2, rs2 := range sessions {
			if found {
				break
			}
			k, found = k2, sessbook.Holds(&rs2.sess, g)
		}
		if !found {
			k, found = c.tags.lookup(g)
		}
		if !found {
			return b, false, nil
		}
		if rs, err = runSessionOf(tx, sessions, k); err != nil {
			return b, false, err
		}
		// The run's receiver, with what it opened so far.
		var next sessionRecord
		if content, next, delta, err = sessbook.OpenRecord(rs.sess, self, envelope.Address{User: k.user, Device: k.device}, env); err != nil {
			return b, false, nil
		}
		opened = &next
	} else if pre == nil {
		return b, false, nil // not a sealed envelope that opened: the per-message path tells why
	} else {
		content = pre
	}
	if content.Type != typeRatchet && content.Type != typePreKey {
		return b, false, nil
	}
	sender := content.Sender.User
	rec, err := rc.contact(c, tx, sender)
	if err != nil || rec == nil || rec.Changed {
		return b, false, err
	}
	var d contactDevice
	found := false
	for _, cd := range rec.Devices {
		if cd.ID == content.Sender.Device {
			d, found = cd, true
			break
		}
	}
	// A prekey message set up under another identity key than the pinned
	// one fails decryptWith's identity check, and the per-message path
	// looks the sender up again (handle): no need to parse it twice here.
	if !found {
		return b, false, nil
	}
	if rs == nil {
		if rs, err = runSessionOf(tx, sessions, sessionKey{sender, d.ID}); err != nil {
			return b, false, err
		}
	}
	var g gap
	// decryptWith may change archived states in place: it gets a copy, so
	// that a message the run does not store leaves rs as it was.
	pt, sess, ring, err := c.decryptWith(tx, content, d, rec, rs.sess.Clone(), rs.have, &g)
	if err != nil {
		return b, false, nil // refused, a replay, or a local failure: the per-message path tells which
	}
	sess = withTagged(sess, opened)
	kind, body, err := decodeApp(pt)
	if err != nil {
		return b, false, nil
	}
	m := messageRecord{ID: messageIDString(content.MessageID), Peer: sender, From: sender,
		FromDevice: content.Sender.Device, To: self.User, SentAt: content.Timestamp,
		ReceivedAt: now.UnixMilli(), State: StateReceived, Late: g.late, Missing: g.missing, Chain: g.chain, N: g.n}
	switch kind {
	case appKindText:
		m.Text = string(body)
	case appKindFile:
		if m.Attachment, err = decodeFile(body); err != nil {
			return b, false, nil
		}
	case appKindData:
		if m.Data, err = decodeData(body); err != nil {
			return b, false, nil
		}
	case appKindOffer:
		next, err := sessbook.AcceptOffer(sess.TagSend, body)
		if errors.Is(err, tagged.ErrStaleOffer) {
			next, err = sess.TagSend, nil // overtaken by a newer offer
		}
		if err != nil {
			return b, false, nil // refused and reported by the per-message path
		}
		if err := rememberControl(tx, sender, content.MessageID); err != nil {
			return b, false, err
		}
		sess.TagSend = next
		rs.commit(sess, d, !isTagged, delta)
		if ring != nil {
			if err := tx.PutSecret(secretKeyring, ring.Marshal()); err != nil {
				return b, false, err
			}
		}
		return batched{control: true}, true, nil
	default:
		return b, false, nil
	}
	fresh, err := tx.AddIncoming(sender, content.MessageID[:], now, encodeJSON(m), shows == nil || !shows(sender))
	if err != nil {
		return b, false, err
	}
	if ring != nil {
		if err := tx.PutSecret(secretKeyring, ring.Marshal()); err != nil {
			return b, false, err
		}
	}
	rs.commit(sess, d, !isTagged, delta)
	if fresh {
		b.msg = &m
	}
	return b, true, nil
}

// runSessionOf returns the run's copy of session k, loading it at first use.
func runSessionOf(tx *localstore.Tx, sessions map[sessionKey]*runSession, k sessionKey) (*runSession, error) {
	if rs := sessions[k]; rs != nil {
		return rs, nil
	}
	sess, have, err := loadSession(tx, k.user, k.device)
	if err != nil {
		return nil, err
	}
	rs := &runSession{sess: sess, have: have}
	sessions[k] = rs
	return rs, nil
}

// commit makes sess the run's state of the session after a stored message,
// which changed the tag table by delta.
func (rs *runSession) commit(sess sessionRecord, d contactDevice, sealed bool, delta tagged.Delta) {
	rs.sess, rs.have, rs.dirty, rs.d = sess, true, true, d
	rs.sealed = rs.sealed || sealed
	if len(delta.Added)+len(delta.Removed)+len(delta.Marks)+len(delta.Dropped) > 0 {
		rs.deltas = append(rs.deltas, delta)
	}
}
