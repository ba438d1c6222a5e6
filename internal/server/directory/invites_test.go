package directory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/proto"
)

func inviteOnly(c *Config) { c.Registration = RegistrationInvite }

// issue stores an operator invite and returns its code.
func (e *env) issue(uses int, ttl time.Duration) string {
	e.t.Helper()
	inv, err := IssueInvite(e.t.Context(), e.st, uses, ttl, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return inv.Code
}

// registerInvited registers a new user with code; it returns the answer.
func (e *env) registerInvited(name, code string) (int, []byte) {
	e.t.Helper()
	u := newUser(e.t, name)
	req := e.registerReq(u, 0)
	req.Invite = code
	status, body, _ := e.post(u, req)
	return status, body
}

func (e *env) exists(name string) bool {
	e.t.Helper()
	_, err := e.lookupOne(name).User(name)
	return err == nil
}

var codeRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$`)

func TestInviteCodeFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		code, hash, err := newInviteCode()
		if err != nil {
			t.Fatal(err)
		}
		if !codeRE.MatchString(code) || seen[code] {
			t.Fatalf("code %q (seen before: %v)", code, seen[code])
		}
		seen[code] = true
		// Typed back as people type it: lower case, no dashes, O for 0, I or L for 1.
		typed := strings.ToLower(strings.ReplaceAll(code, "-", " "))
		typed = strings.NewReplacer("0", "o", "1", "l").Replace(typed)
		if h, ok := inviteHash(typed); !ok || !bytes.Equal(h, hash) {
			t.Fatalf("%q typed as %q does not read back", code, typed)
		}
	}
	for _, bad := range []string{"", "ABCD-EFGH-JKMN-PQR", "ABCD-EFGH-JKMN-PQRSU", "ABCD-EFGH-JKMN-PQRU",
		"ABCD-EFGH-JKMN-PQR\u00e9", strings.Repeat("A", 65)} {
		if _, ok := inviteHash(bad); ok {
			t.Errorf("inviteHash(%q) accepted", bad)
		}
	}
}

func TestInvitePolicyRefusesWithoutAGoodCode(t *testing.T) {
	e := newEnv(t, inviteOnly)
	status, body := e.registerInvited("nocode", "")
	wantError(t, status, body, http.StatusForbidden, "invite_required")
	status, body = e.registerInvited("badcode", "not a code")
	wantError(t, status, body, http.StatusForbidden, "invite_invalid")
	unknown, _, _ := newInviteCode()
	status, body = e.registerInvited("unknown", unknown)
	wantError(t, status, body, http.StatusForbidden, "invite_invalid")

	code := e.issue(1, time.Hour)
	if status, body := e.registerInvited("alice", strings.ToLower(strings.ReplaceAll(code, "-", ""))); status != http.StatusCreated {
		t.Fatalf("good code: %d %s", status, body)
	}
	status, body = e.registerInvited("bob", code)
	wantError(t, status, body, http.StatusForbidden, "invite_used")

	late := e.issue(1, time.Hour)
	e.clock.Advance(time.Hour)
	status, body = e.registerInvited("carol", late)
	wantError(t, status, body, http.StatusForbidden, "invite_expired")

	for _, name := range []string{"nocode", "badcode", "unknown", "bob", "carol"} {
		if e.exists(name) {
			t.Fatalf("%s registered without a good code", name)
		}
	}
	if !e.exists("alice") {
		t.Fatal("alice not registered")
	}
}

// TestSecurityInviteRedeemedOnceConcurrently is a security regression
// test: one code sent by many registrations at once admits exactly one
// account.
func TestSecurityInviteRedeemedOnceConcurrently(t *testing.T) {
	e := newEnv(t, inviteOnly)
	code := e.issue(1, time.Hour)
	const n = 20
	type result struct {
		status int
		body   []byte
	}
	users := make([]*testUser, n)
	reqs := make([][]byte, n)
	for i := range users {
		users[i] = newUser(t, fmt.Sprintf("racer%02d", i))
		req := e.registerReq(users[i], 0)
		req.Invite = code
		b, err := proto.SignRequest(users[i].id, req)
		if err != nil {
			t.Fatal(err)
		}
		reqs[i] = b
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := e.srv.Client().Post(e.srv.URL+"/v1/users", "application/json", bytes.NewReader(reqs[i]))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			results[i] = result{resp.StatusCode, b.Bytes()}
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, r := range results {
		if r.status == http.StatusCreated {
			won++
			continue
		}
		wantError(t, r.status, r.body, http.StatusForbidden, "invite_used")
	}
	t.Logf("%d concurrent registrations with one code: %d created, %d invite_used; %d accounts stored", n, won, n-won, e.countAccounts())
	if won != 1 || e.countAccounts() != 1 {
		t.Fatalf("%d registrations won, %d accounts stored; want 1", won, e.countAccounts())
	}
}

// TestInviteAdmitsATeamFromOneAddress: an invite is the operator's
// consent, so a multi-use code admits a whole office behind one address;
// wrong codes still count against the address, so guessing is throttled.
func TestInviteAdmitsATeamFromOneAddress(t *testing.T) {
	e := newEnv(t, inviteOnly)
	code := e.issue(2*DefaultRegistrationsPerIP, time.Hour)
	for i := range 2 * DefaultRegistrationsPerIP {
		if status, body := e.registerInvited(fmt.Sprintf("member%02d", i), code); status != http.StatusCreated {
			t.Fatalf("member %d: %d %s", i, status, body)
		}
	}
	for i := range DefaultRegistrationsPerIP {
		guess, _, _ := newInviteCode()
		status, body := e.registerInvited(fmt.Sprintf("guess%02d", i), guess)
		wantError(t, status, body, http.StatusForbidden, "invite_invalid")
	}
	guess, _, _ := newInviteCode()
	status, body := e.registerInvited("guess", guess)
	wantError(t, status, body, http.StatusTooManyRequests, "rate_limited")
}

func TestInviteGivenBackWhenActivationMailFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e := newEnv(t, inviteOnly, func(c *Config) {
		c.Mailer = NewSMTPMailer(addr, "hush@example.org", nil)
		c.BaseURL = "http://hush.example"
	})
	code := e.issue(1, time.Hour)
	u := newUser(t, "alice")
	req := e.registerReq(u, 0)
	req.Invite, req.Email = code, "alice@example.org"
	status, body, _ := e.post(u, req)
	wantError(t, status, body, http.StatusBadGateway, "mail_failed")
	if status, body := e.registerInvited("alice", code); status != http.StatusCreated {
		t.Fatalf("the invite was not given back: %d %s", status, body)
	}
}

// createInvite asks for a user invite signed by u.
func (e *env) createInvite(u *testUser, expiresIn int64) (int, []byte) {
	e.t.Helper()
	return e.signed("/v1/invites", u.id, &proto.CreateInviteRequest{RequestHeader: e.header(proto.OpCreateInvite, u.name), ExpiresIn: expiresIn})
}

func TestUserInvites(t *testing.T) {
	e := newEnv(t, inviteOnly, func(c *Config) { c.UserInvites = 2 })
	bob := newUser(t, "bob")
	req := e.registerReq(bob, 0)
	req.Invite = e.issue(1, time.Hour)
	if status, body, _ := e.post(bob, req); status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	// Only bob's identity key issues bob's invites.
	status, body := e.createInvite(newUser(t, "bob"), 0)
	wantError(t, status, body, http.StatusUnauthorized, "bad_signature")

	var codes []string
	for want := 1; want >= 0; want-- {
		e.clock.Advance(time.Second)
		status, body := e.createInvite(bob, 3600)
		var ans proto.InviteAnswer
		if status != http.StatusCreated || json.Unmarshal(body, &ans) != nil {
			t.Fatalf("%d %s", status, body)
		}
		if !codeRE.MatchString(ans.Code) || ans.Uses != 1 || ans.InvitesLeft != want ||
			ans.ExpiresAt != e.clock.Now().Add(time.Hour).Unix() {
			t.Fatalf("answer %+v", ans)
		}
		codes = append(codes, ans.Code)
	}
	e.clock.Advance(time.Second)
	status, body = e.createInvite(bob, 0)
	wantError(t, status, body, http.StatusForbidden, "invite_limit")
	status, body = e.createInvite(bob, 31*24*3600)
	wantError(t, status, body, http.StatusBadRequest, "bad_request")

	if status, body := e.registerInvited("carol", codes[0]); status != http.StatusCreated {
		t.Fatalf("bob's invite: %d %s", status, body)
	}
	status, body = e.registerInvited("dave", codes[0])
	wantError(t, status, body, http.StatusForbidden, "invite_used")
}

func TestUserInvitesDisabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  envOption
	}{
		{"invite policy without user invites", inviteOnly},
		{"open policy", func(c *Config) { c.UserInvites = 5 }},
		{"closed policy", func(c *Config) { c.Registration, c.UserInvites = RegistrationClosed, 5 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opt)
			u := newUser(t, "alice")
			status, body := e.createInvite(u, 0)
			wantError(t, status, body, http.StatusForbidden, "invites_disabled")
		})
	}
}
