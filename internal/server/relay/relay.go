// Package relay is the hush store-and-forward relay. It accepts envelopes
// for device mailboxes over MQTT (an embedded broker, TCP or WebSocket)
// and HTTP, and promises:
//
//   - an envelope is acknowledged (MQTT PUBACK, HTTP 202) only after it is
//     durably committed to the store; concurrent sends share one commit;
//   - it is delivered live to the recipient device if that device is
//     subscribed, and again, in sequence order, every time the device
//     subscribes to its inbox, until the device acknowledges it;
//   - only the owning device can read or acknowledge (delete) the
//     envelopes of a mailbox; every connection authenticates with a
//     bearer token bound to that mailbox, re-verified while it lasts;
//   - every refused send is answered with a reason (MQTT 5 reason code,
//     MQTT 3.1.1 status notice, or HTTP error), never dropped silently;
//   - envelopes older than the TTL are deleted by ExpireOld.
//
// Delivery is at least once: a device may see an envelope twice and
// dedupes on its sequence number. The relay sees opaque ciphertext and
// mailbox ids, and the authenticated account that submits each envelope:
// it stores that account with the envelope until it is acknowledged or
// expires, so that no sender takes more than its share of a mailbox or
// more than its budget across all mailboxes. The delivered MQTT packet is
// built by the relay and carries nothing of the sender's packet but the
// envelope.
//
// The MQTT broker (mochi-mqtt) stays behind this package. Wire formats and
// endpoints are in doc/api-drafts/relay.md.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// Config is what New needs.
type Config struct {
	Store  store.Store
	Tokens httpapi.TokenVerifier // bearer tokens (MQTT password, HTTP Authorization)
	Limits Limits
	Now    func() time.Time // defaults to time.Now
	Logger *slog.Logger     // defaults to discarding
}

// Limits bound what the relay accepts. Zero fields take the defaults.
type Limits struct {
	MaxEnvelope int // bytes; default envelope.MaxEnvelope
	// Mailbox bounds each mailbox; default 10,000 envelopes / 256 MiB.
	// Only MaxCount and MaxBytes are read: the sender limits come from
	// the fields below.
	Mailbox store.MailboxLimits
	// SenderShare is the fraction of a mailbox's count and byte limits
	// one sender account may hold in it; default 0.25, 1 for no share
	// limit.
	SenderShare float64
	// AccountMaxCount and AccountMaxBytes bound what one sender account
	// holds pending across all mailboxes; default 100,000 envelopes /
	// 1 GiB.
	AccountMaxCount int64
	AccountMaxBytes int64
	TTL             time.Duration // how long an unacknowledged envelope is kept; default 30 days
	// RatePerSec and Burst bound the envelopes one device sends: one
	// token bucket per device, shared by all its MQTT connections and its
	// HTTP requests (a fan-out is charged per recipient). Defaults 200/s
	// and 1000.
	RatePerSec float64
	Burst      int
	// AccountRatePerSec and AccountBurst bound what all the devices of
	// one account send together, on a second bucket every send also
	// pays. Defaults: twice RatePerSec and four times Burst.
	AccountRatePerSec float64
	AccountBurst      int
	// MaxConnsPerDevice caps the MQTT connections one device holds at
	// once; a CONNECT beyond it is refused (MQTT 5 0x97 quota exceeded,
	// MQTT 3.1.1 return code 3 server unavailable). A CONNECT reusing the
	// client id of a held connection takes that one over instead.
	// Default 4.
	MaxConnsPerDevice int
	// ListConcurrency caps the GET /v1/mailbox requests one device has
	// running at once; another is answered 429 rate_limited. Default 2.
	ListConcurrency int
	// TokenRecheck is how often the token of each MQTT connection is
	// verified again; a connection whose token no longer verifies
	// (expired, revoked) is disconnected. Default 30 s.
	TokenRecheck time.Duration
}

// Defaults.
const (
	DefaultMailboxCount = 10_000
	DefaultMailboxBytes = 256 << 20
	DefaultTTL          = 30 * 24 * time.Hour
	DefaultRatePerSec   = 200
	DefaultTokenRecheck = 30 * time.Second
	// DefaultMaxConnsPerDevice leaves room for a device's listener, a
	// send or two and a reconnect racing the old connection's end.
	DefaultMaxConnsPerDevice = 4
	// DefaultListConcurrency is twice what a hush client uses (one
	// receive pass per device at a time).
	DefaultListConcurrency = 2
	DefaultSenderShare     = 0.25
	// DefaultAccountMaxCount lets a member of a 1,000-device group send
	// 100 messages to members who are all away.
	DefaultAccountMaxCount = 100_000
	DefaultAccountMaxBytes = 1 << 30
)

func (l Limits) withDefaults() Limits {
	if l.MaxEnvelope <= 0 {
		l.MaxEnvelope = envelope.MaxEnvelope
	}
	if l.Mailbox.MaxCount <= 0 {
		l.Mailbox.MaxCount = DefaultMailboxCount
	}
	if l.Mailbox.MaxBytes <= 0 {
		l.Mailbox.MaxBytes = DefaultMailboxBytes
	}
	if l.TTL <= 0 {
		l.TTL = DefaultTTL
	}
	if l.RatePerSec <= 0 {
		l.RatePerSec = DefaultRatePerSec
	}
	if l.Burst <= 0 {
		l.Burst = proto.DefaultBurst
	}
	if l.AccountRatePerSec <= 0 {
		l.AccountRatePerSec = 2 * l.RatePerSec
	}
	if l.AccountBurst <= 0 {
		l.AccountBurst = 4 * l.Burst
	}
	if l.MaxConnsPerDevice <= 0 {
		l.MaxConnsPerDevice = DefaultMaxConnsPerDevice
	}
	if l.ListConcurrency <= 0 {
		l.ListConcurrency = DefaultListConcurrency
	}
	if l.TokenRecheck <= 0 {
		l.TokenRecheck = DefaultTokenRecheck
	}
	if l.SenderShare <= 0 {
		l.SenderShare = DefaultSenderShare
	}
	if l.AccountMaxCount <= 0 {
		l.AccountMaxCount = DefaultAccountMaxCount
	}
	if l.AccountMaxBytes <= 0 {
		l.AccountMaxBytes = DefaultAccountMaxBytes
	}
	return l
}

// storeLimits is what AppendEnvelopes enforces: the mailbox limits, each
// sender's share of them (rounded up, at least one envelope and one
// byte), and each sender's budget.
func (l Limits) storeLimits() store.MailboxLimits {
	m := store.MailboxLimits{MaxCount: l.Mailbox.MaxCount, MaxBytes: l.Mailbox.MaxBytes,
		AccountMaxCount: l.AccountMaxCount, AccountMaxBytes: l.AccountMaxBytes}
	if l.SenderShare < 1 {
		m.SenderMaxCount = max(1, int64(math.Ceil(l.SenderShare*float64(m.MaxCount))))
		m.SenderMaxBytes = max(1, int64(math.Ceil(l.SenderShare*float64(m.MaxBytes))))
	}
	return m
}

// Relay is the store-and-forward relay. Its methods are safe for
// concurrent use.
type Relay struct {
	st     store.Mailboxes
	tokens httpapi.TokenVerifier
	lim    Limits
	stlim  store.MailboxLimits // lim.storeLimits()
	now    func() time.Time
	log    *slog.Logger
	m      *metrics

	broker    *mqtt.Server
	listeners atomic.Int64 // names TCP listeners
	conns     *connTable
	ws        *wsListener
	sends     *sendLimiter // per device and per account
	lists     *listSlots   // running GET /v1/mailbox per device
	// listBudget is the size limit of a GET /v1/mailbox answer
	// (MaxListAnswer), listChunk how many envelope bytes a list reads
	// from the store at a time (listChunk); tests lower them.
	listBudget, listChunk int

	commits       chan *commitReq
	stopCommit    chan struct{} // closed by Close: the committer stops
	committerDone chan struct{} // closed when it has stopped

	mu      sync.RWMutex // guards closed against Submit's pending.Add
	closed  bool
	pending sync.WaitGroup // Submits between admission and result

	ctx       context.Context // cancelled by Close: background work stops
	cancel    context.CancelFunc
	bg        sync.WaitGroup // committer, token sweeper, backlog pushers
	closeOnce sync.Once
	closeErr  error
}

// New creates a relay and starts its broker (with no listener yet: see
// ListenMQTT and MQTTWebSocketHandler) and its committer.
func New(cfg Config) (*Relay, error) {
	if cfg.Store == nil || cfg.Tokens == nil {
		return nil, errors.New("relay: Config.Store and Config.Tokens are required")
	}
	r := &Relay{
		st:            cfg.Store,
		tokens:        cfg.Tokens,
		lim:           cfg.Limits.withDefaults(),
		now:           cfg.Now,
		log:           cfg.Logger,
		m:             newMetrics(),
		conns:         newConnTable(),
		listBudget:    proto.MaxListAnswer,
		listChunk:     listChunk,
		commits:       make(chan *commitReq, 4*maxBatch),
		stopCommit:    make(chan struct{}),
		committerDone: make(chan struct{}),
	}
	r.stlim = r.lim.storeLimits()
	if r.now == nil {
		r.now = time.Now
	}
	r.sends, r.lists = newSendLimiter(r.lim), newListSlots(r.lim.ListConcurrency)
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if err := r.startBroker(); err != nil {
		r.cancel()
		return nil, err
	}
	r.bg.Add(2)
	go r.committer()
	go r.tokenSweeper()
	return r, nil
}

// SubmitFrom stores env, sent by the account sender, durably in mailbox
// and returns its sequence number, then hands it to the recipient device
// if it is connected. Every send (MQTT publish, HTTP POST) takes this
// path. Errors: ErrTooLarge, ErrBadEnvelope, ErrUnknownMailbox,
// ErrMailboxFull, ErrShareFull, ErrAccountFull, ErrClosed, or a store
// error. Rate limits are the caller's (they are per device and account).
func (r *Relay) SubmitFrom(ctx context.Context, sender, mailbox string, env []byte) (int64, error) {
	seq, err := r.submit(ctx, sender, mailbox, env)
	if err != nil {
		r.m.reject(classify(err))
		return 0, err
	}
	r.deliver(mailbox, seq, env)
	return seq, nil
}

// Submit is SubmitFrom for an in-process send that names no account: the
// mailbox limits apply, the sender limits do not. Every send that comes
// over the network names its authenticated account.
func (r *Relay) Submit(ctx context.Context, mailbox string, env []byte) (int64, error) {
	return r.SubmitFrom(ctx, "", mailbox, env)
}

func (r *Relay) submit(ctx context.Context, sender, mailbox string, env []byte) (int64, error) {
	switch {
	case len(env) > r.lim.MaxEnvelope:
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(env), r.lim.MaxEnvelope)
	case len(env) == 0 || (env[0] != sealedEnvelope && env[0] != deliveryEnvelope && env[0] != groupEnvelope && env[0] != taggedEnvelope):
		return 0, ErrBadEnvelope
	case !proto.ValidMailbox(mailbox):
		return 0, ErrUnknownMailbox
	}
	return r.commit(ctx, store.NewEnvelope{
		Mailbox:   mailbox,
		Sender:    sender,
		Data:      env,
		ExpiresAt: r.now().Add(r.lim.TTL),
	})
}

// deliver publishes a stored envelope to the subscribers of its inbox:
// the owning device's connections, and nobody else (the ACL allows only
// the owner to subscribe).
//
// A connection that is subscribing or running a backlog pass does not get
// the envelope live: the pass sends it after the older ones, so a device
// receives its mailbox in sequence order.
func (r *Relay) deliver(mailbox string, seq int64, env []byte) {
	conns := r.conns.forMailbox(mailbox)
	for _, c := range conns {
		c.deliverMu.Lock()
	}
	held := false
	for _, c := range conns {
		c.mu.Lock()
		switch {
		case c.holdLive:
			held = true
			r.startPass(c) // or another one after the running one
		case seq <= c.pushedTo:
			held = true // a pass that just ended sent it already
		}
		c.mu.Unlock()
	}
	if !held {
		if err := r.broker.Publish(proto.InboxTopic(mailbox), proto.EncodeDelivery(seq, env), false, 1); err != nil {
			r.log.Warn("relay: live delivery failed", "error", err)
		}
	}
	for _, c := range conns {
		c.deliverMu.Unlock()
	}
	r.conns.catchUpSaturated(r, mailbox)
}

// ExpireOld deletes envelopes whose TTL has passed, and forgets the
// rate-limit state of devices and accounts that have been idle. Call it
// periodically.
func (r *Relay) ExpireOld(ctx context.Context) error {
	now := r.now()
	r.sends.prune(now)
	n, err := r.st.ExpireEnvelopes(ctx, now)
	if err != nil {
		return fmt.Errorf("relay: expire envelopes: %w", err)
	}
	r.m.expired.Add(float64(n))
	if n > 0 {
		r.log.Info("relay: expired envelopes", "count", n)
	}
	return nil
}

// Close shuts the relay down gracefully: new sends are refused
// (ErrClosed), sends already admitted are committed and answered, then the
// broker disconnects every client and the background work stops. It does
// not close the store. If ctx ends first, Close returns its error after
// stopping what it can.
func (r *Relay) Close(ctx context.Context) error {
	r.closeOnce.Do(func() { r.closeErr = r.shutdown(ctx) })
	return r.closeErr
}

func (r *Relay) shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()

	drained := make(chan struct{})
	go func() { r.pending.Wait(); close(drained) }()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = fmt.Errorf("relay: close: in-flight commits not drained: %w", ctx.Err())
	}
	close(r.stopCommit)
	r.cancel()
	if cerr := r.broker.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("relay: close broker: %w", cerr)
	}
	stopped := make(chan struct{})
	go func() { r.bg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("relay: close: background work still running: %w", ctx.Err())
		}
	}
	return err
}

// Collectors returns the relay's Prometheus metrics, for the server to
// register on its own registry.
func (r *Relay) Collectors() []prometheus.Collector { return r.m.collectors() }
