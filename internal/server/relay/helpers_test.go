package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/sqlstore"
	"github.com/hush-chat/hush/internal/server/store"
)

// waitTimeout bounds every wait on an event; tests never assert wall time,
// they fail only if an expected event never comes.
const waitTimeout = 10 * time.Second

// testClock is the relay's injected clock: it moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_800_000_000, 0).UTC()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testTokens is a TokenVerifier over a map, standing in for the auth
// service.
type testTokens struct {
	clock *testClock
	mu    sync.Mutex
	m     map[string]tokenEntry
}

type tokenEntry struct {
	p       httpapi.Principal
	expires time.Time
}

var errBadToken = errors.New("invalid token")

func (v *testTokens) VerifyToken(_ context.Context, tok string) (httpapi.Principal, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[tok]
	if !ok || !v.clock.Now().Before(e.expires) {
		return httpapi.Principal{}, errBadToken
	}
	return e.p, nil
}

func (v *testTokens) put(tok string, p httpapi.Principal, ttl time.Duration) {
	v.mu.Lock()
	v.m[tok] = tokenEntry{p: p, expires: v.clock.Now().Add(ttl)}
	v.mu.Unlock()
}

func (v *testTokens) revoke(tok string) {
	v.mu.Lock()
	delete(v.m, tok)
	v.mu.Unlock()
}

// testEnv is a relay on real SQLite, with a TCP MQTT listener and an HTTP
// server carrying the API and MQTT over WebSocket.
type testEnv struct {
	r       *Relay
	db      *sqlstore.DB
	dbURL   string
	clock   *testClock
	tokens  *testTokens
	mqtt    string // host:port
	wsURL   string // ws://host:port/mqtt
	httpURL string
}

type device struct {
	name    string
	mailbox string
	token   string
}

func newEnv(t testing.TB, lim Limits, opts ...func(*Config)) *testEnv {
	t.Helper()
	return newEnvOn(t, "sqlite://"+filepath.Join(t.TempDir(), "hush.db"), lim, opts...)
}

// newEnvOn is newEnv on the database at dbURL.
func newEnvOn(t testing.TB, dbURL string, lim Limits, opts ...func(*Config)) *testEnv {
	t.Helper()
	ctx := context.Background()
	e := &testEnv{clock: newTestClock(), dbURL: dbURL}
	e.tokens = &testTokens{clock: e.clock, m: map[string]tokenEntry{}}
	db, err := sqlstore.Open(ctx, e.dbURL, sqlstore.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	cfg := Config{Store: db, Tokens: e.tokens, Limits: lim, Now: e.clock.Now}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.r = r
	addr, err := r.ListenMQTT("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.mqtt = addr.String()
	mux := http.NewServeMux()
	mux.Handle("/v1/", r.Handler())
	mux.Handle("/mqtt", r.MQTTWebSocketHandler())
	srv := httptest.NewServer(mux)
	e.httpURL = srv.URL
	e.wsURL = "ws" + strings.TrimPrefix(srv.URL, "http") + "/mqtt"
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(ctx, waitTimeout)
		defer cancel()
		if err := r.Close(cctx); err != nil {
			t.Errorf("relay close: %v", err)
		}
		srv.Close()
		db.Close()
	})
	return e
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// device registers an account with one device and a token for it.
func (e *testEnv) device(t testing.TB, name string) device {
	t.Helper()
	d := device{name: name, mailbox: randHex(16), token: randHex(32)}
	err := e.db.CreateAccount(context.Background(),
		store.Account{Username: name, IdentityKey: []byte(randHex(16))},
		store.Device{DeviceID: 1, Cert: []byte("cert"), Mailbox: d.mailbox},
		store.PreKey{KeyID: 1, Data: []byte("signed")}, store.PreKey{KeyID: 2, Data: []byte("kem")}, false)
	if err != nil {
		t.Fatal(err)
	}
	e.tokens.put(d.token, httpapi.Principal{Username: name, DeviceID: 1, Mailbox: d.mailbox}, time.Hour)
	return d
}

// sealed returns a fake sealed envelope: the relay only looks at the
// first byte.
func sealed(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	b[0] = 0x01
	return b
}

func (e *testEnv) pending(t testing.TB, mailbox string) []store.Envelope {
	t.Helper()
	envs, err := e.db.PendingEnvelopes(context.Background(), mailbox, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return envs
}

// waitFor polls cond until it holds (for state with no event to wait on,
// such as the broker forgetting a closed connection).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
