package directory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/store"
)

// message is one e-mail the in-process SMTP receiver got.
type message struct {
	from string
	to   []string
	data string
}

// smtpReceiver is a real SMTP server on a loopback port.
type smtpReceiver struct {
	addr string
	got  chan message
}

func newSMTPReceiver(t *testing.T) *smtpReceiver {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &smtpReceiver{addr: l.Addr().String(), got: make(chan message, 16)}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{r: r}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return r
}

// next waits for the next message.
func (r *smtpReceiver) next(t *testing.T) message {
	t.Helper()
	select {
	case m := <-r.got:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no e-mail arrived")
		return message{}
	}
}

type smtpSession struct {
	r  *smtpReceiver
	mu sync.Mutex
	m  message
}

func (s *smtpSession) Reset()        { s.mu.Lock(); s.m = message{}; s.mu.Unlock() }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.m.from = from
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.to = append(s.m.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.data = string(b)
	s.r.got <- s.m
	return nil
}

// tokenSpy records the tokens the directory stores.
type tokenSpy struct {
	store.Store
	mu     sync.Mutex
	tokens []store.Token
}

func (s *tokenSpy) PutToken(ctx context.Context, t store.Token) error {
	s.mu.Lock()
	s.tokens = append(s.tokens, t)
	s.mu.Unlock()
	return s.Store.PutToken(ctx, t)
}

const ttl = time.Hour

type mailEnv struct {
	*env
	smtp *smtpReceiver
	spy  *tokenSpy
}

func newMailEnv(t *testing.T, opts ...envOption) *mailEnv {
	t.Helper()
	base := newEnv(t) // owns the database; its directory goes unused
	rcv := newSMTPReceiver(t)
	spy := &tokenSpy{Store: base.st}
	e := newEnvWithStore(t, base.clock, spy, func(c *Config) {
		c.Mailer = NewSMTPMailer(rcv.addr, "hush@example.org", nil)
		c.BaseURL = "http://hush.example/"
		c.ActivationTTL = ttl
		for _, o := range opts {
			o(c)
		}
	})
	return &mailEnv{env: e, smtp: rcv, spy: spy}
}

var linkRE = regexp.MustCompile(`http://hush\.example(/v1/(activate|cancel)/[A-Za-z0-9_-]+)`)

// registerPending registers name with an e-mail address and returns the
// paths of its activation and cancel links.
func (e *mailEnv) registerPending(name string) (activate, cancel string) {
	e.t.Helper()
	u := newUser(e.t, name)
	req := e.registerReq(u, 1)
	req.Email = name + "@example.org"
	status, body := e.signed("/v1/users", u.id, req)
	if status != http.StatusCreated {
		e.t.Fatalf("register: %d %s", status, body)
	}
	if got := mustUser(e.t, e.verify(body), name); got.State != proto.StatePending || len(got.Devices) != 0 {
		e.t.Fatalf("registered with e-mail: %+v", got)
	}
	m := e.smtp.next(e.t)
	if len(m.to) != 1 || m.to[0] != name+"@example.org" || m.from != "hush@example.org" {
		e.t.Fatalf("e-mail envelope from %q to %v", m.from, m.to)
	}
	for _, l := range linkRE.FindAllStringSubmatch(m.data, -1) {
		switch l[2] {
		case "activate":
			activate = l[1]
		case "cancel":
			cancel = l[1]
		}
	}
	if activate == "" || cancel == "" {
		e.t.Fatalf("links missing from e-mail:\n%s", m.data)
	}
	return activate, cancel
}

func (e *mailEnv) state(name string) string {
	e.t.Helper()
	a := e.lookupOne(name)
	if u, err := a.User(name); err == nil {
		return u.State
	}
	return "missing"
}

func TestActivationByEmailLink(t *testing.T) {
	e := newMailEnv(t)
	activate, _ := e.registerPending("alice")
	status, body := e.getBundle("bob", "alice", 1)
	wantError(t, status, body, http.StatusConflict, "not_active")

	// Mail scanners fetch links: GET shows a page and does nothing.
	for range 2 {
		status, body = e.do("GET", activate, nil, "Accept", "text/html")
		if status != http.StatusOK || !bytes.Contains(body, []byte(`<form method="post">`)) {
			t.Fatalf("GET link: %d %s", status, body)
		}
	}
	if s := e.state("alice"); s != proto.StatePending {
		t.Fatalf("GET activated the account: %s", s)
	}

	status, body = e.do("POST", activate, nil)
	if status != http.StatusOK || e.state("alice") != proto.StateActive {
		t.Fatalf("POST link: %d %s", status, body)
	}
	if _, err := e.fetchBundle("alice", 1); err != nil {
		t.Fatal(err)
	}
	// Single use.
	status, body = e.do("POST", activate, nil)
	wantError(t, status, body, http.StatusNotFound, "token_invalid")
	// A browser gets a page, with the same status.
	status, body = e.do("POST", activate, nil, "Accept", "text/html")
	if status != http.StatusNotFound || !bytes.Contains(body, []byte("<html")) {
		t.Fatalf("browser error page: %d %s", status, body)
	}
}

func TestSecurityActivationTokensStoredHashed(t *testing.T) {
	e := newMailEnv(t)
	activate, cancel := e.registerPending("alice")
	e.spy.mu.Lock()
	tokens := append([]store.Token(nil), e.spy.tokens...)
	e.spy.mu.Unlock()
	if len(tokens) != 2 {
		t.Fatalf("%d tokens stored, want 2", len(tokens))
	}
	for i, link := range []string{activate, cancel} {
		tok := link[strings.LastIndexByte(link, '/')+1:]
		h := sha256.Sum256([]byte(tok))
		if !bytes.Equal(tokens[i].Hash, h[:]) {
			t.Fatalf("stored hash of token %d is not SHA-256 of the link token", i)
		}
		if strings.Contains(tokens[i].Purpose+tokens[i].Username, tok) || bytes.Contains(tokens[i].Hash, []byte(tok)) {
			t.Fatal("the token itself reached the store")
		}
	}
	// One changed character is a different hash, so no such token.
	tok := activate[strings.LastIndexByte(activate, '/')+1:]
	flipped := "A" + tok[1:]
	if tok[0] == 'A' {
		flipped = "B" + tok[1:]
	}
	status, body := e.do("POST", "/v1/activate/"+flipped, nil)
	wantError(t, status, body, http.StatusNotFound, "token_invalid")
	status, body = e.do("POST", "/v1/activate/short", nil)
	wantError(t, status, body, http.StatusNotFound, "token_invalid")
	// A cancel token does not activate.
	status, body = e.do("POST", strings.Replace(cancel, "/cancel/", "/activate/", 1), nil)
	wantError(t, status, body, http.StatusNotFound, "token_invalid")
	if s := e.state("alice"); s != proto.StatePending {
		t.Fatalf("state %s", s)
	}
}

func TestExpiredActivationLinkAndPurge(t *testing.T) {
	e := newMailEnv(t)
	activate, _ := e.registerPending("alice")
	e.clock.Advance(ttl + time.Second)
	status, body := e.do("POST", activate, nil)
	wantError(t, status, body, http.StatusNotFound, "token_invalid")
	if s := e.state("alice"); s != proto.StatePending {
		t.Fatalf("state %s before purge", s)
	}
	if err := e.dir.ExpirePending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := e.state("alice"); s != "missing" {
		t.Fatalf("unactivated account not purged: %s", s)
	}
	// The name is free again, for anybody.
	e.register(newUser(t, "alice"), 0)
}

func TestPendingAccountKeptWithinTTL(t *testing.T) {
	e := newMailEnv(t)
	e.registerPending("alice")
	e.clock.Advance(ttl - time.Minute)
	if err := e.dir.ExpirePending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := e.state("alice"); s != proto.StatePending {
		t.Fatalf("account purged before its TTL: %s", s)
	}
}

func TestCancelLinkDeletesRegistration(t *testing.T) {
	e := newMailEnv(t)
	activate, cancel := e.registerPending("alice")
	status, body := e.do("GET", cancel, nil)
	if status != http.StatusOK || e.state("alice") != proto.StatePending {
		t.Fatalf("GET cancel: %d %s", status, body)
	}
	status, body = e.do("POST", cancel, nil)
	if status != http.StatusOK || e.state("alice") != "missing" {
		t.Fatalf("POST cancel: %d %s", status, body)
	}
	status, body = e.do("POST", activate, nil)
	wantError(t, status, body, http.StatusNotFound, "token_invalid")
	status, body = e.do("POST", cancel, nil)
	wantError(t, status, body, http.StatusNotFound, "token_invalid")
}

func TestCancelLinkDoesNotDeleteActiveAccount(t *testing.T) {
	e := newMailEnv(t)
	activate, cancel := e.registerPending("alice")
	if status, body := e.do("POST", activate, nil); status != http.StatusOK {
		t.Fatalf("activate: %d %s", status, body)
	}
	status, body := e.do("POST", cancel, nil)
	wantError(t, status, body, http.StatusConflict, "not_active")
	if s := e.state("alice"); s != proto.StateActive {
		t.Fatalf("state %s", s)
	}
}

func TestSecurityTombstoneOwnerReturnsActive(t *testing.T) {
	// Re-registering a deleted name with its own key skips the pending
	// state: a pending account that expired would be purged and free the
	// name for anyone, undoing the tombstone.
	e := newMailEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 0)
	e.signed("/v1/users/delete", alice.id, &proto.DeleteAccountRequest{RequestHeader: e.header(proto.OpDeleteAccount, "alice")})
	e.clock.Advance(time.Second)
	req := e.registerReq(newUserWithKey(t, "alice", alice.id, 1), 0)
	req.Email = "alice@example.org"
	status, body := e.signed("/v1/users", alice.id, req)
	if status != http.StatusCreated || mustUser(t, e.verify(body), "alice").State != proto.StateActive {
		t.Fatalf("%d %s", status, body)
	}
	e.clock.Advance(2 * ttl)
	if err := e.dir.ExpirePending(t.Context()); err != nil {
		t.Fatal(err)
	}
	thief := newUser(t, "alice")
	status, body = e.signed("/v1/users", thief.id, e.registerReq(thief, 0))
	wantError(t, status, body, http.StatusConflict, "username_taken")
}

func TestMailFailureDropsRegistration(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	e := newEnv(t, func(c *Config) {
		c.Mailer = NewSMTPMailer(addr, "hush@example.org", nil)
		c.BaseURL = "http://hush.example"
	})
	u := newUser(t, "alice")
	req := e.registerReq(u, 0)
	req.Email = "alice@example.org"
	status, body := e.signed("/v1/users", u.id, req)
	wantError(t, status, body, http.StatusBadGateway, "mail_failed")
	if _, err := e.lookupOne("alice").User("alice"); err == nil {
		t.Fatal("registration kept although its e-mail was never sent")
	}
}

func TestInvalidEmailRefused(t *testing.T) {
	e := newMailEnv(t)
	u := newUser(t, "alice")
	for _, addr := range []string{"alice", "Alice <alice@example.org>", "alice@example.org\r\nBcc: x@y.z"} {
		e.clock.Advance(time.Second)
		req := e.registerReq(u, 0)
		req.Email = addr
		status, body := e.signed("/v1/users", u.id, req)
		wantError(t, status, body, http.StatusBadRequest, "invalid_email")
	}
}

func TestSMTPMailerRefusesHeaderInjection(t *testing.T) {
	m := NewSMTPMailer("127.0.0.1:1", "hush@example.org", nil)
	if err := m.Send(t.Context(), "a@b.c\r\nBcc: evil@x.y", "s", "b"); err != errHeaderValue {
		t.Fatalf("got %v", err)
	}
}
