package blobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/testkit"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/auth"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/sqlstore"
	"github.com/hush-chat/hush/internal/server/store"
)

// countingStore is the real store, counting the chunk writes that reach
// it.
type countingStore struct {
	store.Store
	puts atomic.Int64
}

func (c *countingStore) PutChunk(ctx context.Context, id string, index int64, data []byte) error {
	c.puts.Add(1)
	return c.Store.PutChunk(ctx, id, index, data)
}

// env is a blob service on real SQLite behind real bearer-token auth,
// served over real HTTP.
type env struct {
	t     *testing.T
	dbURL string
	db    *sqlstore.DB
	store *countingStore
	svc   *Service
	auth  *auth.Service
	clock *testkit.Clock
	srv   *httptest.Server
	url   string
	logs  *bytes.Buffer
}

// testChunk is the MaxChunk of test services: small, so that blobs of a
// few chunks stay cheap, and also the smallest chunk_size they accept.
const testChunk = 4096

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	clk := testkit.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	e := &env{t: t, dbURL: "sqlite://" + t.TempDir() + "/hush.db", clock: clk, logs: &bytes.Buffer{}}
	e.start(cfg)
	t.Cleanup(e.stop)
	return e
}

// start opens the database and serves a new Service over it.
func (e *env) start(cfg Config) {
	e.t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, e.dbURL, sqlstore.WithClock(e.clock.Now))
	if err != nil {
		e.t.Fatal(err)
	}
	e.db, e.store = db, &countingStore{Store: db}
	// Tokens outlive every clock move the tests make.
	e.auth, err = auth.New(auth.Config{Store: db, Now: e.clock.Now, TokenTTL: 365 * 24 * time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.Store, cfg.Now = e.store, e.clock.Now
	cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, nil))
	if cfg.MaxChunk == 0 {
		cfg.MaxChunk = testChunk
	}
	if e.svc, err = New(cfg); err != nil {
		e.t.Fatal(err)
	}
	e.srv = httptest.NewServer(httpapi.RequireAuth(e.auth, e.svc.Handler()))
	e.url = e.srv.URL
}

func (e *env) stop() {
	e.srv.Close()
	e.db.Close()
}

// restart stops the server and starts a new one on the same database, as
// a restarted process would: nothing held in memory survives.
func (e *env) restart(cfg Config) {
	e.t.Helper()
	e.stop()
	e.start(cfg)
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// login registers username (once) with a real identity and device
// certificate, and logs device in through the auth challenge; it returns
// the bearer token.
func (e *env) login(username string, device uint32) string {
	e.t.Helper()
	ctx := context.Background()
	id, err := identity.GenerateIdentity()
	if err != nil {
		e.t.Fatal(err)
	}
	dev, err := identity.GenerateDevice(device)
	if err != nil {
		e.t.Fatal(err)
	}
	// A second device of an existing account is certified by a different
	// identity here; the blob service never looks at certificates.
	d := store.Device{Username: username, DeviceID: device, Cert: identity.Certify(id, dev, 1).Marshal(),
		Mailbox: identity.MailboxID(id.Public(), device)}
	pk := store.PreKey{KeyID: 1, Data: []byte{1}}
	if _, err = e.db.GetAccount(ctx, username); err == nil {
		err = e.db.AddDevice(ctx, d, pk, pk)
	} else {
		a := store.Account{Username: username, IdentityKey: id.Public().Bytes(), KeyVersion: 1, State: store.StateActive}
		err = e.db.CreateAccount(ctx, a, d, pk, pk, false)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	sealed, err := e.auth.Challenge(ctx, username, device)
	if err != nil {
		e.t.Fatal(err)
	}
	nonce, err := proto.OpenChallenge(dev, sealed)
	if err != nil {
		e.t.Fatal(err)
	}
	g, err := e.auth.Answer(ctx, username, device, nonce)
	if err != nil {
		e.t.Fatal(err)
	}
	return g.Token
}

// reply is an HTTP answer, read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// code is the error code of an error answer ("" if none).
func (r reply) code() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (e *env) do(method, path, token, contentType string, body io.Reader) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// create makes a blob and returns its creation answer.
func (e *env) create(token string, size, chunkSize int64, recipients int) createResponse {
	e.t.Helper()
	body, _ := json.Marshal(createRequest{Size: size, ChunkSize: chunkSize, Recipients: recipients})
	r := e.do("POST", "/v1/blobs", token, "application/json", bytes.NewReader(body))
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	var cr createResponse
	if err := json.Unmarshal(r.body, &cr); err != nil {
		e.t.Fatal(err)
	}
	return cr
}

func chunkPath(id string, i int64) string {
	return "/v1/blobs/" + id + "/chunks/" + strconv.FormatInt(i, 10)
}

func (e *env) put(token, id string, i int64, data []byte) reply {
	e.t.Helper()
	return e.do("PUT", chunkPath(id, i), token, "application/octet-stream", bytes.NewReader(data))
}

func (e *env) getChunk(token, id string, i int64) reply {
	e.t.Helper()
	return e.do("GET", chunkPath(id, i), token, "", nil)
}

func (e *env) status(token, id string) (statusResponse, reply) {
	e.t.Helper()
	r := e.do("GET", "/v1/blobs/"+id, token, "", nil)
	var st statusResponse
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &st); err != nil {
			e.t.Fatal(err)
		}
	}
	return st, r
}

func (e *env) done(token, id string) reply {
	e.t.Helper()
	return e.do("POST", "/v1/blobs/"+id+"/done", token, "", nil)
}

// want fails the test unless r has the status and, for errors, the code.
func want(t *testing.T, what string, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("%s: got %d %q (%s), want %d %q", what, r.status, r.code(), bytes.TrimSpace(r.body), status, code)
	}
}

// fileOf returns n deterministic bytes standing in for a stream's
// ciphertext.
func fileOf(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7) + byte(i>>8)
	}
	return b
}

// chunksOf splits file the way the blob layout does.
func chunksOf(file []byte, chunkSize int) [][]byte {
	var out [][]byte
	for len(file) > chunkSize {
		out = append(out, file[:chunkSize])
		file = file[chunkSize:]
	}
	return append(out, file)
}

// staticVerifier accepts fixed tokens, for tests where the store behind
// the real auth is unavailable.
type staticVerifier map[string]httpapi.Principal

func (v staticVerifier) VerifyToken(_ context.Context, token string) (httpapi.Principal, error) {
	p, ok := v[token]
	if !ok {
		return p, errors.New("unknown token")
	}
	return p, nil
}

// metricValue returns the value of a counter gathered from reg, named
// "name" or "name{labelvalue}" for a one-label vector.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	base, label, _ := strings.Cut(strings.TrimSuffix(name, "}"), "{")
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != base {
			continue
		}
		for _, m := range f.GetMetric() {
			if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
