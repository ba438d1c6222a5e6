package directory

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/server/httpapi"
)

// Policy says who may register an account (doc/API.md §2.17).
type Policy string

const (
	// RegistrationOpen: anyone who reaches the server registers (the
	// default).
	RegistrationOpen Policy = "open"
	// RegistrationInvite: a registration needs an invite code, issued by
	// the operator (`hush server invite`) or, where allowed, by users.
	RegistrationInvite Policy = "invite"
	// RegistrationClosed: nobody registers.
	RegistrationClosed Policy = "closed"
)

// ParsePolicy reads a registration policy; "" is RegistrationOpen.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case "":
		return RegistrationOpen, nil
	case RegistrationOpen, RegistrationInvite, RegistrationClosed:
		return p, nil
	}
	return "", fmt.Errorf("registration %q: want open, invite or closed", s)
}

// Registration throttle defaults. Per client address: 30 registrations at
// once, earned back at 30 an hour (one every 2 minutes), so a team signing
// up together from one office does not wait, while one machine registers
// at most 30 + 30×24 = 750 names a day instead of one every few
// milliseconds. Per e-mail address: 3 activation e-mails in any 24 hours
// (or activation TTL, if longer): a mistyped or lost registration can be
// tried again, a mailbox cannot be flooded, and one address never holds
// more than 3 pending usernames.
const (
	DefaultRegistrationsPerIP        = 30
	DefaultActivationMailsPerAddress = 3
	registrationPeriod               = time.Hour
	activationMailPeriod             = 24 * time.Hour
)

// registration is the directory's registration control: the policy and
// the throttles. Its limiters are safe for concurrent use.
type registration struct {
	policy      Policy
	userInvites int
	proxies     []netip.Prefix
	perIP       *bucketLimiter // nil: no limit
	perAddress  *windowLimiter // nil: no limit
}

func newRegistration(cfg *Config, activationTTL time.Duration) (*registration, error) {
	p, err := ParsePolicy(string(cfg.Registration))
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	if cfg.UserInvites < 0 {
		return nil, errors.New("directory: Config.UserInvites is negative")
	}
	reg := &registration{policy: p, userInvites: cfg.UserInvites, proxies: cfg.TrustedProxies}
	if n := orDefault(cfg.RegistrationsPerIP, DefaultRegistrationsPerIP); n > 0 {
		reg.perIP = newBucketLimiter(n, registrationPeriod)
	}
	if n := orDefault(cfg.ActivationMailsPerAddress, DefaultActivationMailsPerAddress); n > 0 {
		// The window covers the activation TTL, so the limit is also how
		// many pending usernames one address can hold.
		reg.perAddress = newWindowLimiter(n, max(activationMailPeriod, activationTTL))
	}
	return reg, nil
}

// orDefault maps 0 to def and a negative setting to 0 (no limit).
func orDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// attempt is what one registration request took from the throttles, so
// that what it did not use can be given back.
type attempt struct {
	ip, mailKey string
	ipTaken     bool
	mailAt      time.Time // zero: no e-mail token taken
	mailSent    bool
	invited     bool
}

// gate refuses a registration before its body is read: a closed server,
// or a client address over its limit.
func (g *registration) gate(w http.ResponseWriter, r *http.Request, now time.Time) (*attempt, error) {
	if g.policy == RegistrationClosed {
		return nil, httpapi.Errorf(http.StatusForbidden, "registration_closed",
			"registration is closed on this server; ask its operator")
	}
	a := &attempt{ip: addrKey(clientAddr(r, g.proxies))}
	if g.perIP == nil {
		return a, nil
	}
	ok, wait := g.perIP.take(a.ip, now)
	if !ok {
		return nil, rateLimited(w, wait, "too many registrations from this network address")
	}
	a.ipTaken = true
	return a, nil
}

// takeMail reserves an activation e-mail to addr.
func (g *registration) takeMail(w http.ResponseWriter, a *attempt, addr string, now time.Time) error {
	if g.perAddress == nil {
		return nil
	}
	key := mailKey(addr)
	ok, wait := g.perAddress.take(key, now)
	if !ok {
		return rateLimited(w, wait, "too many activation e-mails to this address")
	}
	a.mailKey, a.mailAt = key, now
	return nil
}

// settle gives back what the attempt took but did not use. A refused
// request keeps its address token (so refusals cannot be repeated for
// free), except where the refusal is no fault of the request: the name was
// taken, the e-mail failed, the server failed. A registration admitted by
// an invite gives its token back too: the invite is the operator's consent.
func (g *registration) settle(a *attempt, err error) {
	if a == nil {
		return
	}
	if !a.mailAt.IsZero() && !a.mailSent {
		g.perAddress.refund(a.mailKey, a.mailAt)
	}
	if a.ipTaken && (err == nil && a.invited || err != nil && blameless(err)) {
		g.perIP.refund(a.ip)
	}
}

// blameless reports whether a registration failed for a reason the
// client could not have known in advance.
func blameless(err error) bool {
	var he *httpapi.Error
	if !errors.As(err, &he) {
		return true // an internal error
	}
	switch he.Code {
	case "username_taken", "mail_failed":
		return true
	}
	return false
}

// userInvitesAllowed refuses POST /v1/invites where users may not invite.
func (g *registration) userInvitesAllowed() error {
	switch {
	case g.policy == RegistrationOpen:
		return httpapi.Errorf(http.StatusForbidden, "invites_disabled",
			"registration is open on this server: newcomers need no invite")
	case g.policy == RegistrationClosed:
		return httpapi.Errorf(http.StatusForbidden, "invites_disabled",
			"registration is closed on this server; ask its operator")
	case g.userInvites == 0:
		return httpapi.Errorf(http.StatusForbidden, "invites_disabled",
			"this server does not let users issue invites; ask its operator for one")
	}
	return nil
}

// inviteFor checks the invite code of a registration under the policy:
// the hash to redeem, nil when no invite is needed (an open server
// ignores a code).
func (g *registration) inviteFor(code string) ([]byte, error) {
	if g.policy != RegistrationInvite {
		return nil, nil
	}
	if code == "" {
		return nil, httpapi.Errorf(http.StatusForbidden, "invite_required",
			"registration on this server needs an invite code; ask its operator or a user for one")
	}
	h, ok := inviteHash(code)
	if !ok {
		return nil, errInviteInvalid()
	}
	return h, nil
}

func errInviteInvalid() error {
	return httpapi.Errorf(http.StatusForbidden, "invite_invalid",
		"this invite code is not valid on this server; check it for typos or ask for a new one")
}

// mailKey is the throttle key of an e-mail address: case folded, and
// without a +tag, which most providers deliver to the same mailbox.
func mailKey(addr string) string {
	addr = strings.ToLower(addr)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], addr[at:]
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	return local + domain
}

// rateLimited is a 429 rate_limited answer with Retry-After in whole
// seconds (at least 1).
func rateLimited(w http.ResponseWriter, wait time.Duration, what string) error {
	secs := max(int64((wait+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return httpapi.Errorf(http.StatusTooManyRequests, "rate_limited", "%s; try again in %s", what, humanWait(secs))
}

// humanWait says a wait of secs seconds the way people say it.
func humanWait(secs int64) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.FormatInt(n, 10) + " " + unit + "s"
	}
	switch {
	case secs < 60:
		return plural(secs, "second")
	case secs < 3600:
		return plural((secs+59)/60, "minute")
	}
	return plural((secs+3599)/3600, "hour")
}
