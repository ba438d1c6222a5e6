package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/sqlstore"
	"github.com/hush-chat/hush/internal/server/store"
)

type fixture struct {
	svc   *Service
	st    store.Store
	path  string // the SQLite file
	dev   *identity.DevicePrivateKey
	clock time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	path := t.TempDir() + "/hush.db"
	st, err := sqlstore.Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, _ := identity.GenerateIdentity()
	dev, _ := identity.GenerateDevice(1)
	cert := identity.Certify(id, dev, 0)
	ring, _ := pqxdh.NewKeyring(id, 1, 0)
	spk, lr := ring.SignedPreKey(), ring.LastResort()
	now := time.Unix(1_800_000_000, 0)
	err = st.CreateAccount(context.Background(),
		store.Account{Username: "alice", IdentityKey: id.Public().Bytes(), KeyVersion: 1, State: store.StateActive, CreatedAt: now, UpdatedAt: now},
		store.Device{Username: "alice", DeviceID: 1, Cert: cert.Marshal(), Mailbox: identity.MailboxID(id.Public(), 1), CreatedAt: now},
		store.PreKey{KeyID: spk.ID, Data: spk.Marshal()}, store.PreKey{KeyID: lr.ID, Data: lr.Marshal()}, false)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, path: path, dev: dev, clock: now}
	f.svc, err = New(Config{Store: st, Now: func() time.Time { return f.clock }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) login(t *testing.T) *Grant {
	t.Helper()
	ctx := context.Background()
	sealed, err := f.svc.Challenge(ctx, "alice", 1)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := proto.OpenChallenge(f.dev, sealed)
	if err != nil {
		t.Fatal(err)
	}
	g, err := f.svc.Answer(ctx, "alice", 1, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestLoginAndVerify(t *testing.T) {
	f := newFixture(t)
	g := f.login(t)
	p, err := f.svc.VerifyToken(context.Background(), g.Token)
	if err != nil || p.Username != "alice" || p.DeviceID != 1 || p.Mailbox != g.Mailbox || len(g.Mailbox) != 32 {
		t.Fatalf("principal %+v, %v", p, err)
	}
	f.clock = f.clock.Add(DefaultTokenTTL + time.Second)
	if _, err := f.svc.VerifyToken(context.Background(), g.Token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestChallengeNeedsTheDeviceKey(t *testing.T) {
	// Security regression: only the holder of the certified envelope key can
	// answer; another device's key cannot open the challenge.
	f := newFixture(t)
	sealed, _ := f.svc.Challenge(context.Background(), "alice", 1)
	other, _ := identity.GenerateDevice(1)
	if _, err := proto.OpenChallenge(other, sealed); err == nil {
		t.Fatal("another device opened the challenge")
	}
	if _, err := f.svc.Answer(context.Background(), "alice", 1, make([]byte, proto.NonceSize)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("guessed nonce: %v", err)
	}
}

func TestChallengeSingleUseAndExpiring(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sealed, _ := f.svc.Challenge(ctx, "alice", 1)
	nonce, _ := proto.OpenChallenge(f.dev, sealed)
	if _, err := f.svc.Answer(ctx, "alice", 1, nonce); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Answer(ctx, "alice", 1, nonce); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("reused challenge: %v", err)
	}
	sealed, _ = f.svc.Challenge(ctx, "alice", 1)
	nonce, _ = proto.OpenChallenge(f.dev, sealed)
	f.clock = f.clock.Add(DefaultChallengeTTL + time.Second)
	if _, err := f.svc.Answer(ctx, "alice", 1, nonce); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired challenge: %v", err)
	}
}

func TestAnswerForAnotherDeviceRefused(t *testing.T) {
	f := newFixture(t)
	sealed, _ := f.svc.Challenge(context.Background(), "alice", 1)
	nonce, _ := proto.OpenChallenge(f.dev, sealed)
	if _, err := f.svc.Answer(context.Background(), "alice", 2, nonce); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("got %v", err)
	}
}

func TestHTTPFlowAndErrors(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(f.svc.Handler())
	defer srv.Close()
	post := func(path string, body any, hdr ...string) (*http.Response, map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", srv.URL+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if len(hdr) > 0 {
			req.Header.Set("Authorization", hdr[0])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	code := func(m map[string]any) string {
		e, _ := m["error"].(map[string]any)
		s, _ := e["code"].(string)
		return s
	}
	if r, m := post("/v1/auth/challenge", map[string]any{"username": "A!", "device_id": 1}); r.StatusCode != 400 || code(m) != "invalid_username" {
		t.Errorf("bad username: %d %v", r.StatusCode, m)
	}
	if r, m := post("/v1/auth/challenge", map[string]any{"username": "bob", "device_id": 1}); r.StatusCode != 404 || code(m) != "unknown_device" {
		t.Errorf("unknown user: %d %v", r.StatusCode, m)
	}
	if r, m := post("/v1/auth/challenge", map[string]any{"username": "alice", "device_id": 1, "extra": 1}); r.StatusCode != 400 || code(m) != "bad_request" {
		t.Errorf("unknown field: %d %v", r.StatusCode, m)
	}
	r, m := post("/v1/auth/challenge", map[string]any{"username": "alice", "device_id": 1})
	if r.StatusCode != 200 {
		t.Fatalf("challenge: %d %v", r.StatusCode, m)
	}
	var sealed []byte
	_ = json.Unmarshal([]byte(`"`+m["challenge"].(string)+`"`), &sealed)
	nonce, err := proto.OpenChallenge(f.dev, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if r, m := post("/v1/auth/token", map[string]any{"username": "alice", "device_id": 1, "response": make([]byte, proto.NonceSize)}); r.StatusCode != 401 || code(m) != "challenge_failed" {
		t.Errorf("wrong answer: %d %v", r.StatusCode, m)
	}
	r, m = post("/v1/auth/token", map[string]any{"username": "alice", "device_id": 1, "response": nonce})
	if r.StatusCode != 200 || m["token"] == "" {
		t.Fatalf("token: %d %v", r.StatusCode, m)
	}
	tok := m["token"].(string)
	if r, _ := post("/v1/auth/logout", nil, "Bearer "+tok); r.StatusCode != 204 {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if _, err := f.svc.VerifyToken(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("token still valid after logout")
	}
	if r, m := post("/v1/auth/logout", nil, "Bearer "+tok); r.StatusCode != 401 || code(m) != "unauthorized" {
		t.Errorf("logout with dead token: %d %v", r.StatusCode, m)
	}
}
