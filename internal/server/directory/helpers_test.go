package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/sqlstore"
	"github.com/hush-chat/hush/internal/server/store"
	"github.com/hush-chat/hush/internal/testkit"
)

// env is a directory over real SQLite behind a real HTTP server.
type env struct {
	t      *testing.T
	clock  *testkit.Clock
	st     store.Store
	dir    *Directory
	srv    *httptest.Server
	server *identity.IdentityKey // the pinned server key
}

type envOption func(*Config)

func withLimits(l Limits) envOption { return func(c *Config) { c.Limits = l } }

// withoutRegistrationThrottle lets one test address register without
// limit, for tests about something other than the throttle.
func withoutRegistrationThrottle() envOption { return func(c *Config) { c.RegistrationsPerIP = -1 } }

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	clock := testkit.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	db, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "hush.db"), sqlstore.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newEnvWithStore(t, clock, db, opts...)
}

func newEnvWithStore(t *testing.T, clock *testkit.Clock, st store.Store, opts ...envOption) *env {
	t.Helper()
	serverKey, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, ServerKey: serverKey, Now: clock.Now, Tokens: testTokens{}}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, clock: clock, st: st, dir: d, srv: srv, server: serverKey.Public()}
}

// testTokens accepts the token "<username>:<device>" as that device's
// login (the auth service's tokens are tested in internal/server/auth).
type testTokens struct{}

func (testTokens) VerifyToken(_ context.Context, tok string) (httpapi.Principal, error) {
	name, dev, ok := strings.Cut(tok, ":")
	id, err := strconv.ParseUint(dev, 10, 32)
	if !ok || err != nil || !proto.ValidUsername(name) {
		return httpapi.Principal{}, errors.New("invalid token")
	}
	return httpapi.Principal{Username: name, DeviceID: uint32(id)}, nil
}

// bearer is the Authorization header of username's device 1.
func bearer(username string) []string { return []string{"Authorization", "Bearer " + username + ":1"} }

// getBundle fetches a bundle as requester, returning the raw answer.
func (e *env) getBundle(requester, username string, device uint32) (int, []byte) {
	e.t.Helper()
	return e.do("GET", fmt.Sprintf("/v1/users/%s/devices/%d/bundle", username, device), nil, bearer(requester)...)
}

// do sends a request and returns the status and body.
func (e *env) do(method, path string, body []byte, header ...string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// signed posts payload signed by key.
func (e *env) signed(path string, key *identity.IdentityPrivateKey, payload any) (int, []byte) {
	e.t.Helper()
	body, err := proto.SignRequest(key, payload)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do("POST", path, body)
}

func (e *env) header(op, username string) proto.RequestHeader {
	return proto.RequestHeader{Op: op, Username: username, Timestamp: e.clock.Now().Unix()}
}

// verify checks a users answer with the pinned key at the current time.
func (e *env) verify(body []byte) *proto.Answer {
	e.t.Helper()
	a, err := proto.VerifyAnswer(e.server, body, time.Minute, e.clock.Now())
	if err != nil {
		e.t.Fatalf("VerifyAnswer: %v (body %s)", err, body)
	}
	return a
}

// lookupOne fetches and verifies GET /v1/users/{name}.
func (e *env) lookupOne(name string) *proto.Answer {
	e.t.Helper()
	status, body := e.do("GET", "/v1/users/"+name, nil)
	if status != http.StatusOK {
		e.t.Fatalf("GET user %s: %d %s", name, status, body)
	}
	return e.verify(body)
}

// wantError checks an error answer's status and code.
func wantError(t *testing.T, status int, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("status %d, body not an error: %s", status, body)
	}
	if status != wantStatus || e.Error.Code != wantCode {
		t.Fatalf("got %d %q (%s), want %d %q", status, e.Error.Code, e.Error.Message, wantStatus, wantCode)
	}
}

// testUser is a client: an identity, one device and its keyring.
type testUser struct {
	name string
	id   *identity.IdentityPrivateKey
	dev  *identity.DevicePrivateKey
	cert *identity.DeviceCert
	ring *pqxdh.Keyring
}

func newUser(t testing.TB, name string) *testUser {
	t.Helper()
	id, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return newUserWithKey(t, name, id, 1)
}

func newUserWithKey(t testing.TB, name string, id *identity.IdentityPrivateKey, device uint32) *testUser {
	t.Helper()
	dev, err := identity.GenerateDevice(device)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := pqxdh.NewKeyring(id, device, 1)
	if err != nil {
		t.Fatal(err)
	}
	return &testUser{name: name, id: id, dev: dev, cert: identity.Certify(id, dev, 1), ring: ring}
}

// upload returns the device's certificate and prekeys with n one-time
// prekeys of each kind.
func (u *testUser) upload(t testing.TB, n int) proto.DeviceUpload {
	t.Helper()
	spk, lr := u.ring.SignedPreKey(), u.ring.LastResort()
	up := proto.DeviceUpload{DeviceCert: u.cert.Marshal(), SignedPreKey: spk.Marshal(), LastResortKEMPreKey: lr.Marshal()}
	up.OneTimePreKeys, up.KEMOneTimePreKeys = u.oneTimes(t, n)
	return up
}

func (u *testUser) oneTimes(t testing.TB, n int) (x, k [][]byte) {
	t.Helper()
	if n == 0 {
		return nil, nil
	}
	otps, err := u.ring.GenerateOneTime(n)
	if err != nil {
		t.Fatal(err)
	}
	kems, err := u.ring.GenerateKEMOneTime(u.id, n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range otps {
		x = append(x, otps[i].Marshal())
		k = append(k, kems[i].Marshal())
	}
	return x, k
}

func (e *env) registerReq(u *testUser, n int) *proto.RegisterRequest {
	return &proto.RegisterRequest{RequestHeader: e.header(proto.OpRegister, u.name), IdentityKey: u.id.Public().Bytes(),
		DeviceUpload: u.upload(e.t, n)}
}

// register registers u with n one-time prekeys of each kind and returns
// the verified answer.
func (e *env) register(u *testUser, n int) *proto.Answer {
	e.t.Helper()
	status, body := e.signed("/v1/users", u.id, e.registerReq(u, n))
	if status != http.StatusCreated {
		e.t.Fatalf("register %s: %d %s", u.name, status, body)
	}
	return e.verify(body)
}

func mustUser(t *testing.T, a *proto.Answer, name string) *proto.User {
	t.Helper()
	u, err := a.User(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
