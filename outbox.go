package hush

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/proto"
)

// The outbox makes a send durable. Whatever a send encrypts is queued in
// the profile in the same transaction that advances the sessions and
// stores the message, and leaves the queue only when the relay (or
// broker) has accepted it, or when it is refused for good and the message
// is marked failed with the reason. Entries hold the sealed envelopes
// themselves: a retry sends the same bytes under the same message id, so
// a recipient that already has the message drops the copy. Entries are
// tried oldest first, and an entry is not tried while an older one for
// the same mailbox is waiting, so retries keep each recipient's order.

// Outbox limits.
const (
	// outboxMaxAge is how long an entry is retried before its message is
	// marked failed.
	outboxMaxAge = 7 * 24 * time.Hour
	// outboxFirstBackoff and outboxMaxBackoff bound the wait between two
	// tries of one entry (doubling from the first).
	outboxFirstBackoff = 2 * time.Second
	outboxMaxBackoff   = 5 * time.Minute
	// sendWaitBudget is how long Send waits on a server that asked it to
	// slow down (429 with Retry-After) before it leaves the message queued.
	sendWaitBudget = 2 * time.Minute
	// outboxPoll is how often Listen looks at the outbox when nothing is
	// due: other processes (hush send) may have queued entries.
	outboxPoll = 30 * time.Second
	// fanoutPart is the most recipients one fan-out request names. Each
	// recipient costs the sender one send of the server's rate limit, and
	// a request for more than its burst is refused (too_many_recipients):
	// half the default burst leaves room, and a server with a smaller
	// burst makes the client halve the parts until they fit.
	fanoutPart = proto.DefaultBurst / 2
)

// outboxRecord is one queued entry.
type outboxRecord struct {
	Conv    string       `json:"conv,omitempty"`   // the conversation whose message follows this entry; empty for control messages
	MsgID   string       `json:"msg_id,omitempty"` // hex message id in Conv
	What    string       `json:"what"`             // what it carries, for reports
	Sends   []outboxSend `json:"sends"`
	Created int64        `json:"created"` // Unix ms
	Tries   int          `json:"tries,omitempty"`
	NextAt  int64        `json:"next_at,omitempty"` // Unix ms; not tried before, unless forced
	LastErr string       `json:"last_err,omitempty"`
	Refused []string     `json:"refused,omitempty"` // recipients that refused for good, with why
	// Accepted counts the mailboxes that took the envelope so far.
	Accepted int `json:"accepted,omitempty"`
}

// outboxSend is one upload: a pairwise envelope (one mailbox) or a group
// envelope fanned out to several.
type outboxSend struct {
	Mailboxes []string `json:"mailboxes"`
	Users     []string `json:"users"` // who owns each mailbox, for reports
	Env       []byte   `json:"env"`
}

// QueuedError is what Send returns when the message is stored and queued
// but the server has not accepted it yet: it is retried by later sends,
// by Listen and by RetrySends, and its state shows in History.
type QueuedError struct{ Cause error }

func (e *QueuedError) Error() string {
	return "queued, not sent yet: " + e.Cause.Error()
}

func (e *QueuedError) Unwrap() error        { return e.Cause }
func (e *QueuedError) Is(target error) bool { return target == ErrQueued }

// enqueue adds an entry in tx (the transaction that advanced the sessions).
// Every entry counts towards the profile's generation (generation.go).
func enqueue(tx *localstore.Tx, r *outboxRecord) (int64, error) {
	if err := bumpGeneration(tx); err != nil {
		return 0, err
	}
	return tx.AddOutbox(encodeJSON(r))
}

// SendReport is what a pass over the outbox did.
type SendReport struct {
	Delivered []Message // messages the server accepted in this pass
	Failed    []Message // messages refused for good (State failed, Error says why)
	Waiting   []Message // messages still queued (Error says why)
	// Other counts queued control messages (group changes and keys) still
	// waiting; OtherWhy says why the last of them waits.
	Other    int
	OtherWhy string
	// Fatal is set when the server says the profile's account is gone
	// (an *AccountDeletedError): what was tried is marked failed.
	Fatal error
}

// RetrySends tries now to deliver everything queued, oldest first, and
// reports what happened. Listen does this by itself on a schedule.
func (c *Client) RetrySends(ctx context.Context) (*SendReport, error) {
	_ = c.sendGroupQueued(ctx, nil) // group control messages receiving recorded; whatever waits, the report says
	return c.flushOutbox(ctx, flushOpts{force: true})
}

type flushOpts struct {
	force bool          // try entries whose backoff has not run out
	wait  time.Duration // how long to wait in all on servers asking to slow down
	// unreachable holds the routes other than the own transport that
	// could not be reached in this pass (route.go): not tried again in it.
	unreachable map[deviceRoute]error
}

// flushOutbox runs one pass over the outbox. It returns an error only for
// a local failure (the profile could not be read or written).
func (c *Client) flushOutbox(ctx context.Context, o flushOpts) (*SendReport, error) {
	c.obMu.Lock()
	defer c.obMu.Unlock()
	// Before anything leaves: the count outside the database (generation.go).
	if err := c.syncGenerationFile(ctx); err != nil {
		return nil, err
	}
	var entries []queued
	if err := c.st.View(ctx, func(tx *localstore.Tx) (err error) { entries, err = readOutbox(tx); return err }); err != nil {
		return nil, err
	}
	rep := &SendReport{}
	var sent []queued // delivered in full: retired together after the pass
	err := c.flushPass(ctx, o, entries, rep, &sent)
	ms, ferr := c.finishSent(context.WithoutCancel(ctx), sent) // delivered: retired even when ctx ends
	rep.Delivered = append(rep.Delivered, ms...)
	return rep, errors.Join(err, ferr)
}

// flushPass is flushOutbox's pass over entries. Entries delivered in full
// are appended to *sent rather than retired one transaction each: they
// are retired retireBatch at a time, and the caller retires the rest. A
// crash before that sends them again, as a crash between an upload and
// its retirement always could: the receiver knows a redelivered message
// (by its ratchet position and id).
func (c *Client) flushPass(ctx context.Context, o flushOpts, entries []queued, rep *SendReport, sent *[]queued) error {
	blocked := map[string]bool{} // mailboxes with an older entry still waiting
	var down error               // the server or broker cannot be reached: stop trying
	for _, e := range entries {
		r := e.rec
		now := c.now()
		due := o.force || r.NextAt <= now.UnixMilli()
		if down != nil || !due || r.anyBlocked(blocked) {
			if r.LastErr == "" { // never tried: say why it waits
				r.LastErr = "waiting behind an earlier message to the same recipient"
				if down != nil {
					r.LastErr = describeSendErr(down)
				}
				if err := c.requeue(ctx, e.seq, &r); err != nil {
					return err
				}
			}
			r.block(blocked)
			if err := c.reportWaiting(ctx, &r, rep); err != nil {
				return err
			}
			continue
		}
		err := c.deliverEntry(ctx, &r, &o)
		done, refused := len(r.Sends) == 0, errors.Is(err, errRefused)
		var gone *AccountDeletedError
		if errors.As(err, &gone) {
			// Nothing this profile queued can go out any more.
			refused, down, rep.Fatal = true, err, err
			r.LastErr = err.Error()
		}
		if err != nil && !refused {
			if ctx.Err() != nil {
				return nil
			}
			var ae *apiclient.Error
			var re *routeError
			if !errors.As(err, &ae) && !errors.As(err, &re) {
				down = err // unreachable: nothing else will get through either
			}
			r.Tries++
			r.LastErr = describeSendErr(err)
			r.NextAt = now.Add(retryDelay(r.Tries, retryAfterOf(err))).UnixMilli()
		}
		expired := !done && now.Sub(time.UnixMilli(r.Created)) > outboxMaxAge
		if refused || expired {
			if expired {
				r.LastErr = fmt.Sprintf("not accepted by the server in %s (last: %s)", outboxMaxAge, r.LastErr)
			}
			m, err := c.finishEntry(ctx, e.seq, &r, StateFailed)
			if err != nil {
				return err
			}
			if m != nil {
				rep.Failed = append(rep.Failed, *m)
			}
			continue
		}
		if done {
			if *sent = append(*sent, queued{seq: e.seq, rec: r}); len(*sent) == retireBatch {
				ms, err := c.finishSent(context.WithoutCancel(ctx), *sent)
				if err != nil {
					return err
				}
				rep.Delivered, *sent = append(rep.Delivered, ms...), (*sent)[:0]
			}
			continue
		}
		if err := c.requeue(ctx, e.seq, &r); err != nil {
			return err
		}
		r.block(blocked)
		if err := c.reportWaiting(ctx, &r, rep); err != nil {
			return err
		}
	}
	return nil
}

func (r *outboxRecord) anyBlocked(blocked map[string]bool) bool {
	for _, s := range r.Sends {
		for _, mb := range s.Mailboxes {
			if blocked[mb] {
				return true
			}
		}
	}
	return false
}

func (r *outboxRecord) block(blocked map[string]bool) {
	for _, s := range r.Sends {
		for _, mb := range s.Mailboxes {
			blocked[mb] = true
		}
	}
}

// errRefused marks an entry the server refused for good.
var errRefused = errors.New("refused")

// deliverEntry uploads what is left of r, removing each upload (or fan-out
// recipient) the server accepted, and recording recipients that refused
// for good. While the server asks to slow down and o.wait allows, it
// waits and tries again.
func (c *Client) deliverEntry(ctx context.Context, r *outboxRecord, o *flushOpts) error {
	// Each device's envelope goes the way that device receives (route.go).
	routes, err := c.splitByRoute(ctx, r)
	if err != nil {
		return err
	}
	for len(r.Sends) > 0 {
		s := &r.Sends[0]
		var rt deviceRoute
		if len(s.Mailboxes) > 0 {
			rt = routes[s.Mailboxes[0]]
		}
		tr, foreign, err := c.routeTransport(ctx, rt)
		if err != nil {
			return err
		}
		if err := o.unreachable[rt]; foreign && err != nil {
			return err
		}
		err = c.uploadEnvelope(ctx, tr, s, r)
		if err != nil && foreign {
			var ae *apiclient.Error
			err = &routeError{user: strings.Join(slices.Compact(slices.Clone(s.Users)), ", "), broker: rt.broker, err: err}
			if !errors.As(err, &ae) {
				if o.unreachable == nil {
					o.unreachable = map[deviceRoute]error{}
				}
				o.unreachable[rt] = err
			}
		}
		if err == nil {
			r.Sends = r.Sends[1:]
			continue
		}
		if permanent(err) {
			r.Refused = append(r.Refused, fmt.Sprintf("%s: %s", strings.Join(slices.Compact(slices.Clone(s.Users)), ", "), describeSendErr(err)))
			r.Sends = r.Sends[1:]
			continue
		}
		// A server whose store is failing is not waited for: the message
		// stays queued and is retried with backoff, so a send returns at
		// once instead of hanging through an outage.
		ra := retryAfterOf(err)
		if ra > 0 && ra <= o.wait && !apiclient.IsCode(err, "unavailable") {
			o.wait -= ra
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(ra):
			}
			continue
		}
		return err
	}
	if len(r.Refused) > 0 && r.Accepted == 0 {
		return errRefused // nobody took it
	}
	return nil
}

// uploadEnvelope sends s once. The mailboxes that took the envelope leave s;
// for a fan-out, those that refused for good are recorded in r, and those
// that asked to wait stay (and an error says why).
func (c *Client) uploadEnvelope(ctx context.Context, tr transport, s *outboxSend, r *outboxRecord) error {
	rt, isRelay := tr.(*relayTransport)
	if len(s.Mailboxes) == 1 || !isRelay {
		for len(s.Mailboxes) > 0 {
			if err := tr.send(ctx, s.Mailboxes[0], s.Env); err != nil {
				return err
			}
			s.Mailboxes, s.Users = s.Mailboxes[1:], s.Users[1:]
			r.Accepted++
		}
		return nil
	}
	// Those that asked to wait, and why the first of them waits.
	var keepMB, keepUsers []string
	var wait error
	part := fanoutPart
	for len(s.Mailboxes) > 0 {
		n := min(part, len(s.Mailboxes))
		res, err := c.fanOut(ctx, rt, s.Mailboxes[:n], s.Env)
		if apiclient.IsCode(err, "too_many_recipients") && n > 1 {
			part = n / 2
			continue
		}
		if err != nil {
			s.Mailboxes, s.Users = append(keepMB, s.Mailboxes...), append(keepUsers, s.Users...)
			return err
		}
		failed := 0
		for _, fe := range res.Errors {
			if fe.Index < 0 || fe.Index >= n {
				continue
			}
			failed++
			e := &apiclient.Error{Status: 429, Code: fe.Code, Message: fe.Code}
			if permanent(e) {
				r.Refused = append(r.Refused, fmt.Sprintf("%s: %s", s.Users[fe.Index], describeSendErr(e)))
				continue
			}
			keepMB, keepUsers = append(keepMB, s.Mailboxes[fe.Index]), append(keepUsers, s.Users[fe.Index])
			if wait == nil {
				wait = &recipientError{user: s.Users[fe.Index], err: e}
			}
		}
		r.Accepted += n - failed
		s.Mailboxes, s.Users = s.Mailboxes[n:], s.Users[n:]
	}
	s.Mailboxes, s.Users = keepMB, keepUsers
	return wait
}

// fanOut uploads env once for mailboxes through the relay's fan-out.
func (c *Client) fanOut(ctx context.Context, rt *relayTransport, mailboxes []string, env []byte) (*proto.FanoutAnswer, error) {
	routing, err := proto.NewRouting(mailboxes)
	if err != nil {
		return nil, err
	}
	var res *proto.FanoutAnswer
	err = rt.withToken(ctx, func(sess *apiclient.Session) error {
		res, err = c.api.FanOut(ctx, sess.Token, routing, env)
		return err
	})
	return res, err
}

// recipientError is a fan-out recipient that asked the sender to wait.
type recipientError struct {
	user string
	err  error
}

func (e *recipientError) Error() string { return e.user + ": " + e.err.Error() }
func (e *recipientError) Unwrap() error { return e.err }

// permanent reports whether a server's refusal will not change on retry.
func permanent(err error) bool {
	var ae *apiclient.Error
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case "mailbox_full", "mailbox_share_full", "account_storage_full", "rate_limited", "unavailable", "internal", "unauthorized":
		return false
	}
	return ae.Status < 500 && ae.Status != 429 && ae.Status != 408
}

func retryAfterOf(err error) time.Duration {
	var ae *apiclient.Error
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// retryDelay is the wait before try n+1: doubling from outboxFirstBackoff up
// to outboxMaxBackoff, and never less than the server asked.
func retryDelay(tries int, retryAfter time.Duration) time.Duration {
	d := outboxFirstBackoff
	for i := 1; i < tries && d < outboxMaxBackoff; i++ {
		d *= 2
	}
	return max(min(d, outboxMaxBackoff), retryAfter)
}

// describeSendErr is the reason a user reads.
func describeSendErr(err error) string {
	var gone *AccountDeletedError
	if errors.As(err, &gone) {
		return gone.Error()
	}
	var rte *routeError
	if errors.As(err, &rte) {
		if why := rte.describe(); why != "" {
			return why
		}
	}
	var re *recipientError
	if errors.As(err, &re) {
		return "waiting for " + re.user + ": " + describeSendErr(re.err)
	}
	var ae *apiclient.Error
	switch {
	case errors.As(err, &ae) && ae.Code == "mailbox_full":
		return "the recipient's mailbox on the server is full"
	case errors.As(err, &ae) && ae.Code == "mailbox_share_full":
		return "the recipient's mailbox holds as much from you as the server allows; sent once they catch up"
	case errors.As(err, &ae) && ae.Code == "account_storage_full":
		return "your messages waiting on the server fill your account's storage; sent once recipients catch up"
	case errors.As(err, &ae) && ae.Code == "rate_limited":
		return "the server asked to slow down"
	case errors.As(err, &ae) && ae.Code == "unavailable":
		return "the server is temporarily unavailable (it will be retried)"
	case errors.As(err, &ae) && ae.Code == "unknown_mailbox":
		return "the server does not know the recipient's device (account deleted?)"
	case errors.As(err, &ae) && ae.Code == "envelope_too_large":
		return "the server refused it as too large"
	case errors.As(err, &ae):
		return ae.Message + " (" + ae.Code + ")"
	case errors.Is(err, ErrServerUnreachable) || errors.Is(err, context.DeadlineExceeded):
		return "cannot reach the server"
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) {
		return "cannot reach the server"
	}
	return "cannot reach the server (" + err.Error() + ")"
}

// finishEntry removes a delivered or refused entry and sets its message's
// state, in one transaction. It returns the message (nil for control
// messages).
func (c *Client) finishEntry(ctx context.Context, seq int64, r *outboxRecord, state State) (*Message, error) {
	var out *Message
	err := c.st.Update(ctx, func(tx *localstore.Tx) (err error) {
		out, err = c.finishIn(tx, seq, r, state)
		return err
	})
	return out, err
}

// retireBatch is how many delivered entries a pass retires in one
// transaction: few commits, and few entries another process flushing the
// same profile could send again meanwhile.
const retireBatch = 64

// finishSent retires the entries delivered in full, in one transaction,
// and returns their messages, now sent.
func (c *Client) finishSent(ctx context.Context, sent []queued) ([]Message, error) {
	if len(sent) == 0 {
		return nil, nil
	}
	var out []Message
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		out = out[:0]
		for i := range sent {
			m, err := c.finishIn(tx, sent[i].seq, &sent[i].rec, StateSent)
			if err != nil {
				return err
			}
			if m != nil {
				out = append(out, *m)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// finishIn is finishEntry inside tx.
func (c *Client) finishIn(tx *localstore.Tx, seq int64, r *outboxRecord, state State) (*Message, error) {
	if err := tx.DeleteOutbox(seq); err != nil {
		return nil, err
	}
	why := r.LastErr
	if len(r.Refused) > 0 {
		prefix := "not delivered to "
		if state == StateSent {
			prefix = "delivered, but not to "
		}
		why = prefix + strings.Join(r.Refused, "; ")
	}
	if state == StateSent && len(r.Refused) == 0 {
		why = ""
	}
	return c.setMessageState(tx, r, state, why)
}

// requeue stores r's new try count and remaining uploads, and shows why
// its message is still waiting.
func (c *Client) requeue(ctx context.Context, seq int64, r *outboxRecord) error {
	return c.st.Update(ctx, func(tx *localstore.Tx) error {
		if err := tx.PutOutbox(seq, encodeJSON(r)); err != nil {
			if errors.Is(err, localstore.ErrNotFound) {
				return nil // another process delivered it meanwhile
			}
			return err
		}
		_, err := c.setMessageState(tx, r, StateSending, r.LastErr)
		return err
	})
}

func (c *Client) reportWaiting(ctx context.Context, r *outboxRecord, rep *SendReport) error {
	if r.Conv == "" {
		rep.Other++
		rep.OtherWhy = r.LastErr
		return nil
	}
	return c.st.View(ctx, func(tx *localstore.Tx) error {
		m, err := c.loadMessage(tx, r.Conv, r.MsgID)
		if err != nil || m == nil {
			return err
		}
		pm := m.public()
		rep.Waiting = append(rep.Waiting, pm)
		return nil
	})
}

func (c *Client) loadMessage(tx *localstore.Tx, conv, hexID string) (*messageRecord, error) {
	id, err := hex.DecodeString(hexID)
	if err != nil {
		return nil, fmt.Errorf("client: corrupt outbox record: %w", err)
	}
	b, err := tx.GetMessage(conv, id)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m messageRecord
	if err := decodeJSON(b, &m, "message"); err != nil {
		return nil, err
	}
	return &m, nil
}

// setMessageState updates the message an entry carries, if any.
func (c *Client) setMessageState(tx *localstore.Tx, r *outboxRecord, state State, why string) (*Message, error) {
	if r.Conv == "" {
		return nil, nil
	}
	m, err := c.loadMessage(tx, r.Conv, r.MsgID)
	if err != nil || m == nil {
		return nil, err
	}
	m.State, m.Error, m.Tries = state, why, r.Tries
	id, _ := hex.DecodeString(r.MsgID)
	if err := tx.UpdateMessage(r.Conv, id, encodeJSON(m)); err != nil {
		return nil, err
	}
	pm := m.public()
	return &pm, nil
}

// flushNow tries everything queued now, waiting on a server that asks to
// slow down. What cannot be delivered stays queued. When control messages
// (group changes, keys) still wait, it returns a *QueuedError saying why:
// they are sent by later commands (RetrySends, Listen, a send).
func (c *Client) flushNow(ctx context.Context) error {
	rep, err := c.flushOutbox(ctx, flushOpts{force: true, wait: sendWaitBudget})
	if err != nil || rep.Other == 0 {
		return err
	}
	return &QueuedError{Cause: fmt.Errorf("%d group control message(s) wait in the outbox: %w", rep.Other, queuedCause(rep.OtherWhy))}
}

// sendQueued delivers the entry just queued for the message m (and any
// older entry due or not: the user is active, the server may be back) and
// returns m as it stands afterwards: sent, failed with the reason, or
// still queued with a *QueuedError.
func (c *Client) sendQueued(ctx context.Context, conv, msgID string) (*Message, error) {
	rep, err := c.flushOutbox(ctx, flushOpts{force: true, wait: sendWaitBudget})
	if err != nil {
		return nil, err
	}
	for _, m := range rep.Delivered {
		if m.ID == msgID && m.Peer == conv {
			return &m, nil
		}
	}
	for _, m := range rep.Failed {
		if m.ID == msgID && m.Peer == conv {
			if rep.Fatal != nil {
				return &m, rep.Fatal
			}
			return &m, fmt.Errorf("%w: %s", ErrSendRefused, m.Error)
		}
	}
	var m *messageRecord
	if err := c.st.View(ctx, func(tx *localstore.Tx) (err error) { m, err = c.loadMessage(tx, conv, msgID); return err }); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("client: message %s vanished from the history", msgID)
	}
	pm := m.public()
	if m.State == StateSent {
		return &pm, nil // delivered by another process meanwhile
	}
	if m.State == StateFailed {
		return &pm, fmt.Errorf("%w: %s", ErrSendRefused, m.Error)
	}
	return &pm, &QueuedError{Cause: queuedCause(m.Error)}
}

// queuedCause turns a stored reason back into an error callers can test
// with errors.Is.
func queuedCause(why string) error {
	if strings.HasPrefix(why, "cannot reach the server") {
		return &reasonError{why: why, kind: ErrServerUnreachable}
	}
	return errors.New(why)
}

// reasonError reads as the reason a user is shown and matches its kind
// with errors.Is.
type reasonError struct {
	why  string
	kind error
}

func (e *reasonError) Error() string { return e.why }
func (e *reasonError) Unwrap() error { return e.kind }

// Pending lists the messages still queued, oldest first.
func (c *Client) Pending(ctx context.Context) ([]Message, error) {
	var out []Message
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		entries, err := readOutbox(tx)
		if err != nil {
			return err
		}
		for _, e := range entries {
			r := e.rec
			if r.Conv == "" {
				continue
			}
			m, err := c.loadMessage(tx, r.Conv, r.MsgID)
			if err != nil {
				return err
			}
			if m != nil {
				out = append(out, m.public())
			}
		}
		return nil
	})
	return out, err
}

// nextOutboxWake is when the earliest queued entry is due (zero: nothing
// queued).
func (c *Client) nextOutboxWake(ctx context.Context) (time.Time, error) {
	var next time.Time
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		entries, err := readOutbox(tx)
		if err != nil {
			return err
		}
		for _, e := range entries {
			t := time.UnixMilli(e.rec.NextAt)
			if next.IsZero() || t.Before(next) {
				next = t
			}
		}
		return nil
	})
	return next, err
}

// queued is one outbox entry: its place in the queue and its record.
type queued struct {
	seq int64
	rec outboxRecord
}

// readOutbox decodes every queued entry, oldest first.
func readOutbox(tx *localstore.Tx) ([]queued, error) {
	rows, err := tx.Outbox()
	if err != nil {
		return nil, err
	}
	out := make([]queued, len(rows))
	for i, row := range rows {
		out[i].seq = row.Seq
		if err := decodeJSON(row.Record, &out[i].rec, "outbox"); err != nil {
			return nil, err
		}
	}
	return out, nil
}
