// Package directory is the hush key directory: an HTTP API (doc/API.md)
// where users publish their identity key, device certificates and prekeys,
// and where anyone looks them up.
//
// What it promises:
//   - every mutation is signed by the account's identity key (the new key
//     for a registration) and verified before anything is changed; a signed
//     request is accepted only within proto.MaxClockSkew of the server clock and
//     only once;
//   - a username, once bound to an identity key, is never handed to another
//     key, also after deletion, unless the operator allows reuse;
//   - every answer about users or prekey bundles is signed by the server key
//     and binds the names asked, the key versions and the server time, so a
//     client (proto.VerifyAnswer, proto.VerifyBundleAnswer) notices an
//     answer replayed for another user or served stale;
//   - each one-time prekey is handed out at most once, only to a logged-in
//     account, and no faster than Limits allow: past them a bundle goes
//     out without one, so nobody can drain a device's pool;
//   - it stores public keys only, and of e-mail activation tokens and
//     invite codes only their SHA-256 hashes;
//   - registration follows the operator's policy (open, invite or closed)
//     and is throttled per client address and per e-mail address.
package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// Limits of the directory API (doc/API.md).
const (
	// MaxLargeBody bounds requests that carry prekeys (register, prekeys,
	// add_device, rotate_identity).
	MaxLargeBody = 4 << 20
	// MaxSmallBody bounds every other request.
	MaxSmallBody = 64 << 10
	// MaxPreKeysPerRequest bounds each one-time prekey list of one request.
	MaxPreKeysPerRequest = 1000
	// MaxStoredPreKeys bounds the one-time prekeys of each kind stored for
	// a device (the client keyring's own bound, doc/SPEC.md §4.5).
	MaxStoredPreKeys = 10000
	// MaxLookup bounds the usernames of one lookup.
	MaxLookup = proto.MaxLookup
	// MaxDevices bounds the devices of one account.
	MaxDevices = 100
	// DefaultActivationTTL is how long activation links stay valid.
	DefaultActivationTTL = 24 * time.Hour
)

// Mailer sends one plain-text e-mail.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Config configures a Directory.
type Config struct {
	Store     store.Store
	ServerKey *identity.IdentityPrivateKey // signs every answer
	// Mailer sends activation e-mails. Nil: no e-mail activation, accounts
	// are active at once and an e-mail address given is ignored.
	Mailer Mailer
	// BaseURL is the public base URL for links in e-mails, e.g.
	// http://127.0.0.1:8080. Required with a Mailer.
	BaseURL string
	// AllowUsernameReuse lets a deleted username be registered by another
	// identity key.
	AllowUsernameReuse bool
	// ActivationTTL is how long activation links are valid; unactivated
	// accounts are purged after it. Zero means DefaultActivationTTL.
	ActivationTTL time.Duration
	Now           func() time.Time // nil: time.Now
	Logger        *slog.Logger     // nil: discard

	// Tokens authenticates the accounts that fetch bundles (relay login
	// tokens, doc/API.md §3). Required.
	Tokens httpapi.TokenVerifier
	// Limits bounds bundle fetches, one-time prekey hand-outs and the
	// signed requests remembered per account; zero fields take defaults.
	Limits Limits

	// Registration is who may register; "" is RegistrationOpen.
	Registration Policy
	// RegistrationsPerIP bounds registrations from one client address (an
	// IPv6 /64) per hour; 0 is DefaultRegistrationsPerIP, negative is no
	// limit.
	RegistrationsPerIP int
	// ActivationMailsPerAddress bounds activation e-mails to one address
	// per day; 0 is DefaultActivationMailsPerAddress, negative is no limit.
	ActivationMailsPerAddress int
	// UserInvites is how many invites each user may issue under the
	// invite policy; 0: only the operator issues invites.
	UserInvites int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client address the throttles count.
	TrustedProxies []netip.Prefix
}

// Directory serves the key directory API. It is safe for concurrent use.
type Directory struct {
	st        store.Store
	key       *identity.IdentityPrivateKey
	mailer    Mailer
	baseURL   string
	reuse     bool
	ttl       time.Duration
	now       func() time.Time
	log       *slog.Logger
	tokens    httpapi.TokenVerifier
	lim       Limits
	bundles   *limiter // bundle fetches per requesting account
	reg       *registration
	m         *metrics
	serverKey proto.ServerKeyAnswer
}

// New checks cfg and returns a Directory.
func New(cfg Config) (*Directory, error) {
	if cfg.Store == nil {
		return nil, errors.New("directory: Config.Store is required")
	}
	if cfg.ServerKey == nil {
		return nil, errors.New("directory: Config.ServerKey is required")
	}
	if cfg.Tokens == nil {
		return nil, errors.New("directory: Config.Tokens is required")
	}
	lim, err := cfg.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Directory{
		st: cfg.Store, key: cfg.ServerKey, mailer: cfg.Mailer, reuse: cfg.AllowUsernameReuse,
		ttl: cfg.ActivationTTL, now: cfg.Now, log: cfg.Logger, m: newMetrics(),
		tokens: cfg.Tokens, lim: lim, bundles: newLimiter(lim.BundleRate, lim.BundleBurst),
	}
	if d.ttl == 0 {
		d.ttl = DefaultActivationTTL
	}
	if d.ttl < 0 {
		return nil, errors.New("directory: Config.ActivationTTL is negative")
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.mailer != nil {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("directory: Config.BaseURL must be an http(s) URL when a Mailer is set")
		}
		d.baseURL = u.Scheme + "://" + u.Host + trimSlash(u.Path)
	}
	reg, err := newRegistration(&cfg, d.ttl)
	if err != nil {
		return nil, err
	}
	d.reg = reg
	pub := cfg.ServerKey.Public()
	d.serverKey = proto.ServerKeyAnswer{Key: pub.Bytes(), Fingerprint: identity.Fingerprint(pub)}
	return d, nil
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// Handler returns the directory's routes, all under /v1/.
func (d *Directory) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, op string, h handlerFunc) { mux.Handle(pattern, d.wrap(op, h)) }
	route("POST /v1/users", proto.OpRegister, d.handleRegister)
	route("GET /v1/users/{name}", "get_user", d.handleGetUser)
	route("POST /v1/users/lookup", "lookup", d.handleLookup)
	route("POST /v1/users/delete", proto.OpDeleteAccount, d.handleDeleteAccount)
	route("POST /v1/users/rotate", proto.OpRotateIdentity, d.handleRotate)
	route("GET /v1/users/{name}/devices/{id}/bundle", "bundle", d.handleBundle)
	route("GET /v1/users/{name}/devices/{id}/prekeys/count", "prekey_count", d.handlePreKeyCount)
	route("GET /v1/users/{name}/devices/{id}/prekeys/status", "prekey_status", d.handlePreKeyStatus)
	route("POST /v1/prekeys", proto.OpPreKeys, d.handlePreKeys)
	route("POST /v1/devices", proto.OpAddDevice, d.handleAddDevice)
	route("POST /v1/devices/delete", proto.OpDeleteDevice, d.handleDeleteDevice)
	route("POST /v1/devices/list", proto.OpSetDeviceList, d.handleSetDeviceList)
	route("POST /v1/devices/delivery", proto.OpSetDelivery, d.handleSetDelivery)
	route("GET /v1/server-key", "server_key", d.handleServerKey)
	route("GET /v1/activate/{token}", "activate_page", d.linkPage(purposeActivate))
	route("POST /v1/activate/{token}", "activate", d.handleActivate)
	route("GET /v1/cancel/{token}", "cancel_page", d.linkPage(purposeCancel))
	route("POST /v1/cancel/{token}", "cancel", d.handleCancel)
	route("POST /v1/invites", proto.OpCreateInvite, d.handleCreateInvite)
	route("/v1/", "not_found", func(http.ResponseWriter, *http.Request) error {
		return httpapi.Errorf(http.StatusNotFound, "not_found", "no such endpoint")
	})
	return mux
}

// handlerFunc is an endpoint; a returned error is written as the answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// wrap turns h into an http.Handler that writes its error, counts the
// outcome and keeps a panic from reaching the client.
func (d *Directory) wrap(op string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := "ok"
		defer func() {
			if p := recover(); p != nil {
				// The value may hold request data: log only that it happened.
				d.log.Error("directory: panic in handler", "op", op)
				code = "internal"
				httpapi.WriteError(w, errors.New("panic"))
			}
			d.m.requests.WithLabelValues(op, code).Inc()
		}()
		err := h(w, r)
		if err == nil {
			return
		}
		var he *httpapi.Error
		if errors.As(err, &he) {
			code = he.Code
		} else {
			code = "internal"
			d.log.Error("directory: request failed", "op", op, "err", err)
		}
		if wantsHTML(r) && isLinkOp(op) {
			writeLinkError(w, err)
			return
		}
		setRetryAfter(w, err)
		httpapi.WriteError(w, err)
	})
}

// ExpirePending purges accounts still pending activation after the
// activation TTL, freeing their usernames, and drops expired tokens.
func (d *Directory) ExpirePending(ctx context.Context) error {
	now := d.now()
	names, err := d.st.ExpirePending(ctx, now.Add(-d.ttl))
	if err != nil {
		return fmt.Errorf("directory: expiring pending accounts: %w", err)
	}
	if _, err := d.st.ExpireTokens(ctx, now); err != nil {
		return fmt.Errorf("directory: expiring tokens: %w", err)
	}
	if len(names) > 0 {
		d.m.purged.Add(float64(len(names)))
		d.log.Info("directory: purged unactivated accounts", "count", len(names))
	}
	return nil
}

// Collectors returns the directory's Prometheus metrics.
func (d *Directory) Collectors() []prometheus.Collector { return d.m.collectors() }

// metrics are per Directory, never in a global registry.
type metrics struct {
	requests *prometheus.CounterVec // by op and outcome code
	bundles  *prometheus.CounterVec // by KEM prekey kind served
	withheld *prometheus.CounterVec // bundles served without one-time prekeys, by reason
	mails    *prometheus.CounterVec // activation e-mails by result
	purged   prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hush_directory_requests_total",
			Help: "Directory requests by operation and outcome code.",
		}, []string{"op", "code"}),
		bundles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hush_directory_bundles_total",
			Help: "Prekey bundles served, by the KEM prekey used (one_time or last_resort) and whether an X25519 one-time prekey was included.",
		}, []string{"kem", "one_time"}),
		withheld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hush_directory_prekeys_withheld_total",
			Help: "Bundles served without one-time prekeys by the hand-out limits, by reason (repeat: the requester had some of that device lately; limit: the device reached its hourly limit).",
		}, []string{"reason"}),
		mails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hush_directory_activation_mails_total",
			Help: "Activation e-mails by result (sent or failed).",
		}, []string{"result"}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hush_directory_pending_purged_total",
			Help: "Unactivated accounts purged after the activation TTL.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.bundles, m.withheld, m.mails, m.purged}
}
