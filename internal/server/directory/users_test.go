package directory

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
)

func TestRegisterAndLookup(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	a := e.register(alice, 3)
	u := mustUser(t, a, "alice")
	if u.State != proto.StateActive || u.KeyVersion != 1 || !u.IdentityKey.Equal(alice.id.Public()) {
		t.Fatalf("registered record: %+v", u)
	}
	if len(u.Devices) != 1 || u.Devices[0].ID != 1 || u.Devices[0].Mailbox != identity.MailboxID(alice.id.Public(), 1) {
		t.Fatalf("devices: %+v", u.Devices)
	}
	if len(u.KeyHistory) != 1 || !u.KeyHistory[0].ValidUntil.IsZero() {
		t.Fatalf("key history: %+v", u.KeyHistory)
	}
	e.register(newUser(t, "bob"), 0)

	one := e.lookupOne("alice")
	if got := mustUser(t, one, "alice"); !got.Devices[0].Cert.Identity.Equal(alice.id.Public()) {
		t.Fatal("lookup returned another certificate")
	}

	req, _ := json.Marshal(proto.LookupRequest{Usernames: []string{"alice", "carol", "bob", "alice"}})
	status, body := e.do("POST", "/v1/users/lookup", req)
	if status != http.StatusOK {
		t.Fatalf("lookup: %d %s", status, body)
	}
	many := e.verify(body)
	if err := many.CheckQuery([]string{"alice", "bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	if len(many.Users) != 2 || len(many.Missing) != 1 || many.Missing[0] != "carol" {
		t.Fatalf("lookup answer: users %d, missing %v", len(many.Users), many.Missing)
	}
	if _, err := many.User("carol"); !errors.Is(err, proto.ErrNoSuchUser) {
		t.Fatalf("carol: %v, want ErrNoSuchUser", err)
	}

	// A single unknown user is a signed "missing", not an unsigned 404.
	if _, err := e.lookupOne("dave").User("dave"); !errors.Is(err, proto.ErrNoSuchUser) {
		t.Fatalf("dave: %v", err)
	}
}

func TestServerKeyEndpoint(t *testing.T) {
	e := newEnv(t)
	status, body := e.do("GET", "/v1/server-key", nil)
	var got proto.ServerKeyAnswer
	if status != http.StatusOK || json.Unmarshal(body, &got) != nil {
		t.Fatalf("%d %s", status, body)
	}
	if !bytes.Equal(got.Key, e.server.Bytes()) || got.Fingerprint != identity.Fingerprint(e.server) {
		t.Fatalf("server key answer %s", body)
	}
}

func TestSecurityTamperedAnswerRefused(t *testing.T) {
	e := newEnv(t)
	e.register(newUser(t, "alice"), 0)
	_, body := e.do("GET", "/v1/users/alice", nil)

	var env proto.SignedAnswer
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	env.Payload = bytes.Replace(env.Payload, []byte(`"key_version":1`), []byte(`"key_version":2`), 1)
	tampered, _ := json.Marshal(env)
	if _, err := proto.VerifyAnswer(e.server, tampered, time.Minute, e.clock.Now()); !errors.Is(err, proto.ErrAnswerSignature) {
		t.Fatalf("tampered answer: %v, want ErrAnswerSignature", err)
	}
	other, _ := identity.GenerateIdentity()
	if _, err := proto.VerifyAnswer(other.Public(), body, time.Minute, e.clock.Now()); !errors.Is(err, proto.ErrAnswerSignature) {
		t.Fatalf("answer under another server key: %v", err)
	}
}

func TestSecurityAnswerForAnotherUserRefused(t *testing.T) {
	e := newEnv(t)
	e.register(newUser(t, "alice"), 0)
	e.register(newUser(t, "mallory"), 0)
	_, body := e.do("GET", "/v1/users/mallory", nil)
	// A network attacker answers a lookup of alice with a genuine, signed
	// answer about mallory.
	a := e.verify(body)
	if _, err := a.User("alice"); !errors.Is(err, proto.ErrNotInQuery) {
		t.Fatalf("answer about mallory accepted for alice: %v", err)
	}
	if err := a.CheckQuery([]string{"alice"}); !errors.Is(err, proto.ErrNotInQuery) {
		t.Fatalf("CheckQuery: %v", err)
	}

	// A signed answer whose users do not match its query is refused even
	// before the caller asks: the server key cannot vouch for a record it
	// was not asked about.
	p, _ := e.dir.usersAnswer(t.Context(), []string{"mallory"}, false)
	p.Query = []string{"alice"}
	if _, err := proto.VerifyAnswer(e.server, signForTest(t, e, p), time.Minute, e.clock.Now()); !errors.Is(err, proto.ErrMalformedAnswer) {
		t.Fatalf("inconsistent answer: %v", err)
	}
}

func signForTest(t *testing.T, e *env, payload any) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := e.dir.writeSigned(rec, 200, payload); err != nil {
		t.Fatal(err)
	}
	return rec.Body.Bytes()
}

func TestStaleAnswerRefused(t *testing.T) {
	e := newEnv(t)
	e.register(newUser(t, "alice"), 0)
	_, body := e.do("GET", "/v1/users/alice", nil)
	later := e.clock.Now().Add(10 * time.Minute)
	if _, err := proto.VerifyAnswer(e.server, body, 5*time.Minute, later); !errors.Is(err, proto.ErrStaleAnswer) {
		t.Fatalf("10-minute-old answer with maxAge 5m: %v", err)
	}
	if _, err := proto.VerifyAnswer(e.server, body, 15*time.Minute, later); err != nil {
		t.Fatalf("within maxAge: %v", err)
	}
	earlier := e.clock.Now().Add(-time.Hour)
	if _, err := proto.VerifyAnswer(e.server, body, time.Hour*2, earlier); !errors.Is(err, proto.ErrStaleAnswer) {
		t.Fatalf("answer from the future: %v", err)
	}
}

func TestSecurityUsernameTakeoverRefused(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 0)
	thief := newUser(t, "alice")
	status, body := e.signed("/v1/users", thief.id, e.registerReq(thief, 0))
	wantError(t, status, body, http.StatusConflict, "username_taken")

	status, body = e.signed("/v1/users/delete", alice.id, &proto.DeleteAccountRequest{RequestHeader: e.header(proto.OpDeleteAccount, "alice")})
	if status != http.StatusOK || mustUser(t, e.verify(body), "alice").State != proto.StateDeleted {
		t.Fatalf("delete: %d %s", status, body)
	}
	tomb := mustUser(t, e.lookupOne("alice"), "alice")
	if tomb.State != proto.StateDeleted || len(tomb.Devices) != 0 || !tomb.IdentityKey.Equal(alice.id.Public()) {
		t.Fatalf("tombstone: %+v", tomb)
	}
	// After deletion the name stays bound to alice's key.
	e.clock.Advance(time.Second)
	status, body = e.signed("/v1/users", thief.id, e.registerReq(thief, 0))
	wantError(t, status, body, http.StatusConflict, "username_taken")

	// Alice herself may come back with the same key.
	back := newUserWithKey(t, "alice", alice.id, 1)
	if u := mustUser(t, e.register(back, 0), "alice"); u.State != proto.StateActive || len(u.Devices) != 1 {
		t.Fatalf("re-registration: %+v", u)
	}
}

func TestUsernameReuseWithOperatorFlag(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowUsernameReuse = true })
	alice := newUser(t, "alice")
	e.register(alice, 0)
	other := newUser(t, "alice")
	status, body := e.signed("/v1/users", other.id, e.registerReq(other, 0))
	wantError(t, status, body, http.StatusConflict, "username_taken") // only deleted names are reused
	e.signed("/v1/users/delete", alice.id, &proto.DeleteAccountRequest{RequestHeader: e.header(proto.OpDeleteAccount, "alice")})
	e.clock.Advance(time.Second)
	if u := mustUser(t, e.register(other, 0), "alice"); !u.IdentityKey.Equal(other.id.Public()) {
		t.Fatal("reused username not bound to the new key")
	}
}

func TestEmailIgnoredWithoutMailer(t *testing.T) {
	e := newEnv(t)
	u := newUser(t, "alice")
	req := e.registerReq(u, 0)
	req.Email = "alice@example.org"
	status, body := e.signed("/v1/users", u.id, req)
	if status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	a := e.verify(body)
	if !a.EmailIgnored || a.Notice == "" || mustUser(t, a, "alice").State != proto.StateActive {
		t.Fatalf("answer: %+v", a)
	}
}

func TestRequestErrors(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 0)
	mallory, _ := identity.GenerateIdentity()
	del := func(ts time.Time) *proto.DeleteAccountRequest {
		return &proto.DeleteAccountRequest{RequestHeader: proto.RequestHeader{Op: proto.OpDeleteAccount, Username: "alice", Timestamp: ts.Unix()}}
	}
	now := e.clock.Now()
	sign := func(key *identity.IdentityPrivateKey, p any) []byte {
		b, err := proto.SignRequest(key, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withPayload := func(p string) []byte {
		b, _ := json.Marshal(proto.SignedRequest{Payload: []byte(p), Signature: alice.id.Sign(proto.LabelRequest, []byte(p))})
		return b
	}
	withNewKeySig := func() []byte {
		p, _ := json.Marshal(del(now))
		b, _ := json.Marshal(proto.SignedRequest{Payload: p, Signature: alice.id.Sign(proto.LabelRequest, p),
			NewKeySignature: mallory.Sign(proto.LabelRequest, p)})
		return b
	}
	bob := newUser(t, "bob")
	bigReg := e.registerReq(bob, 0)
	bigReg.OneTimePreKeys = make([][]byte, MaxPreKeysPerRequest+1)
	for i := range bigReg.OneTimePreKeys {
		bigReg.OneTimePreKeys[i] = bytes.Repeat([]byte{1}, 36)
	}
	badName := e.registerReq(newUser(t, "Bob"), 0)
	cases := []struct {
		name, path string
		body       []byte
		status     int
		code       string
	}{
		{"security: signed by another key", "/v1/users/delete", sign(mallory, del(now)), 401, "bad_signature"},
		{"security: stale timestamp", "/v1/users/delete", sign(alice.id, del(now.Add(-6*time.Minute))), 401, "stale_request"},
		{"security: future timestamp", "/v1/users/delete", sign(alice.id, del(now.Add(6*time.Minute))), 401, "stale_request"},
		{"security: op of another endpoint", "/v1/users/delete",
			sign(alice.id, &proto.DeleteDeviceRequest{RequestHeader: e.header(proto.OpDeleteDevice, "alice"), DeviceID: 1}), 400, "bad_request"},
		{"malformed JSON", "/v1/users/delete", []byte(`{"payload": "AAAA", `), 400, "bad_request"},
		{"unknown envelope field", "/v1/users/delete", []byte(`{"payload":"e30=","signature":"` +
			strings.Repeat("A", 86) + `==","extra":1}`), 400, "bad_request"},
		{"unknown payload field", "/v1/users/delete",
			withPayload(`{"op":"delete_account","username":"alice","timestamp":1,"admin":true}`), 400, "bad_request"},
		{"trailing payload data", "/v1/users/delete",
			withPayload(`{"op":"delete_account","username":"alice","timestamp":1}{}`), 400, "bad_request"},
		{"new_key_signature outside rotation", "/v1/users/delete", withNewKeySig(), 400, "bad_request"},
		{"short signature", "/v1/users/delete", []byte(`{"payload":"e30=","signature":"AAAA"}`), 401, "bad_signature"},
		{"unknown user", "/v1/users/delete", sign(alice.id, &proto.DeleteAccountRequest{RequestHeader: e.header(proto.OpDeleteAccount, "nobody")}), 404, "unknown_user"},
		{"invalid username", "/v1/users", sign(alice.id, badName), 400, "invalid_username"},
		{"oversized small body", "/v1/users/delete", bytes.Repeat([]byte(" "), MaxSmallBody+1), 413, "too_large"},
		{"oversized large body", "/v1/users", bytes.Repeat([]byte(" "), MaxLargeBody+1), 413, "too_large"},
		{"too many one-time prekeys", "/v1/users", sign(bob.id, bigReg), 413, "too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.do("POST", c.path, c.body)
			wantError(t, status, body, c.status, c.code)
		})
	}
	if u := mustUser(t, e.lookupOne("alice"), "alice"); u.State != proto.StateActive {
		t.Fatal("a refused request changed the account")
	}

	t.Run("invalid username in path", func(t *testing.T) {
		status, body := e.do("GET", "/v1/users/A!", nil)
		wantError(t, status, body, 400, "invalid_username")
	})
	t.Run("unknown endpoint", func(t *testing.T) {
		status, body := e.do("GET", "/v1/nothing", nil)
		wantError(t, status, body, 404, "not_found")
	})
	t.Run("lookup too large", func(t *testing.T) {
		names := make([]string, MaxLookup+1)
		for i := range names {
			names[i] = "user" + strings.Repeat("x", i%20)
		}
		b, _ := json.Marshal(proto.LookupRequest{Usernames: names})
		status, body := e.do("POST", "/v1/users/lookup", b)
		wantError(t, status, body, 413, "too_large")
	})
}

func TestSecurityReplayedRequestRefused(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 0)
	laptop := newUserWithKey(t, "alice", alice.id, 2)
	add, err := proto.SignRequest(alice.id, &proto.AddDeviceRequest{RequestHeader: e.header(proto.OpAddDevice, "alice"), DeviceUpload: laptop.upload(t, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := e.do("POST", "/v1/devices", add); status != http.StatusCreated {
		t.Fatalf("add device: %d %s", status, body)
	}
	e.clock.Advance(time.Second)
	if status, body := e.signed("/v1/devices/delete", alice.id, &proto.DeleteDeviceRequest{RequestHeader: e.header(proto.OpDeleteDevice, "alice"), DeviceID: 2}); status != 200 {
		t.Fatalf("delete device: %d %s", status, body)
	}
	// Whoever captured the add_device request cannot bring the removed
	// (perhaps stolen) device back while its timestamp is still fresh.
	status, body := e.do("POST", "/v1/devices", add)
	wantError(t, status, body, http.StatusConflict, "replayed_request")
	if n := len(mustUser(t, e.lookupOne("alice"), "alice").Devices); n != 1 {
		t.Fatalf("%d devices after replay, want 1", n)
	}
}

func TestMetricsCollect(t *testing.T) {
	e := newEnv(t)
	e.register(newUser(t, "alice"), 0)
	reg := prometheus.NewRegistry()
	for _, c := range e.dir.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "hush_directory_requests_total" {
			for _, m := range f.GetMetric() {
				if m.GetCounter().GetValue() == 1 && strings.Contains(m.String(), "register") {
					return
				}
			}
		}
	}
	t.Fatal("no register request counted")
}
