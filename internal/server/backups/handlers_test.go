package backups

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hush-chat/hush/internal/backup"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/sqlstore"
	"github.com/hush-chat/hush/internal/server/store"
	"github.com/hush-chat/hush/internal/testkit"
)

type env struct {
	t     testing.TB
	clock *testkit.Clock
	db    *sqlstore.DB
	st    Store
	srv   *httptest.Server
	svc   *Service
	keys  map[string]*identity.IdentityPrivateKey
}

func newEnv(t testing.TB, evals int, wrapStore func(Store) Store) *env {
	t.Helper()
	clock := testkit.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	db, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "hush.db"), sqlstore.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, clock: clock, db: db, st: db, keys: map[string]*identity.IdentityPrivateKey{}}
	if wrapStore != nil {
		e.st = wrapStore(db)
	}
	s, err := New(Config{Store: e.st, Evaluations: evals, Now: clock.Now, MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = s
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	for _, name := range []string{"alice", "mallory"} {
		e.register(name)
	}
	return e
}

func (e *env) register(name string) {
	id, err := identity.GenerateIdentity()
	if err != nil {
		e.t.Fatal(err)
	}
	a := store.Account{Username: name, IdentityKey: id.Public().Bytes(), State: store.StateActive, CreatedAt: e.clock.Now()}
	d := store.Device{Username: name, DeviceID: 1, Cert: []byte("cert"), Mailbox: name + "-mailbox-0123456789abcdef"}
	pk := func(n uint32) store.PreKey { return store.PreKey{KeyID: n, Data: []byte{byte(n)}} }
	if err := e.db.CreateAccount(context.Background(), a, d, pk(1), pk(2), false); err != nil {
		e.t.Fatal(err)
	}
	e.keys[name] = id
}

// answer is one HTTP answer: status, error code, body.
type answer struct {
	status int
	code   string
	retry  string
	body   []byte
}

func (e *env) send(method, path string, h http.Header, body []byte) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, body: b, retry: resp.Header.Get("Retry-After")}
	var ea proto.ErrorAnswer
	if resp.StatusCode >= 300 && json.Unmarshal(b, &ea) == nil {
		a.code = ea.Error.Code
	}
	return a
}

// signedPut is a PUT /v1/backup of data for username, signed by signer.
func (e *env) signedPut(username string, signer *identity.IdentityPrivateKey, data []byte) (http.Header, []byte) {
	sum := sha256.Sum256(data)
	signed, err := proto.SignRequest(signer, proto.PutBackupRequest{
		RequestHeader: proto.RequestHeader{Op: proto.OpPutBackup, Username: username, Timestamp: e.clock.Now().Unix()},
		Size:          int64(len(data)), SHA256: sum[:],
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return http.Header{proto.HeaderSignedRequest: {base64.StdEncoding.EncodeToString(signed)}}, data
}

func (e *env) oprf(username string) answer {
	_, blinded, err := backup.Blind([]byte("correct horse"))
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := json.Marshal(proto.BackupOPRFRequest{Username: username, Blinded: blinded})
	return e.send("POST", "/v1/backup/oprf", http.Header{"Content-Type": {"application/json"}}, body)
}

// aBackup is a well-formed backup (Seal with a cheap key is not
// available outside the package's tests: use the default parameters once).
var aBackup = func() []byte {
	out := make([]byte, backup.OutputSize)
	k, err := backup.NewKey(out, backup.DefaultParams)
	if err != nil {
		panic(err)
	}
	b, err := backup.Seal("alice", []byte("payload"), k, nil)
	if err != nil {
		panic(err)
	}
	return b.Bytes()
}()

func TestPutGetRoundTrip(t *testing.T) {
	e := newEnv(t, 0, nil)
	if a := e.send("GET", "/v1/backup/alice", nil, nil); a.status != http.StatusNotFound || a.code != proto.CodeNoBackup {
		t.Fatalf("GET before any backup: %d %s", a.status, a.code)
	}
	h, body := e.signedPut("alice", e.keys["alice"], aBackup)
	if a := e.send("PUT", "/v1/backup", h, body); a.status != http.StatusOK {
		t.Fatalf("PUT: %d %s %s", a.status, a.code, a.body)
	}
	if a := e.send("GET", "/v1/backup/alice", nil, nil); a.status != http.StatusOK || !bytes.Equal(a.body, aBackup) {
		t.Fatalf("GET: %d, %d bytes; want the backup", a.status, len(a.body))
	}
}

// Security regression: a backup signed by another account's key is
// refused and the owner's backup stays.
func TestSomeoneElsesPutRefused(t *testing.T) {
	e := newEnv(t, 0, nil)
	h, body := e.signedPut("alice", e.keys["alice"], aBackup)
	if a := e.send("PUT", "/v1/backup", h, body); a.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", a.status, a.code)
	}
	e.clock.Advance(time.Second)
	forged := append([]byte(nil), aBackup...)
	forged[len(forged)-1] ^= 1
	h, body = e.signedPut("alice", e.keys["mallory"], forged)
	if a := e.send("PUT", "/v1/backup", h, body); a.status != http.StatusUnauthorized || a.code != proto.CodeBadSignature {
		t.Fatalf("PUT signed by mallory for alice: %d %s, want 401 bad_signature", a.status, a.code)
	}
	if b, _ := e.db.GetBackup(context.Background(), "alice"); !bytes.Equal(b, aBackup) {
		t.Fatal("a refused PUT replaced alice's backup")
	}
}

// Security regression: the body must be the one the request signs.
func TestPutWithAnotherBodyRefused(t *testing.T) {
	e := newEnv(t, 0, nil)
	h, _ := e.signedPut("alice", e.keys["alice"], aBackup)
	other := append([]byte(nil), aBackup...)
	other[40] ^= 1
	if a := e.send("PUT", "/v1/backup", h, other); a.status != http.StatusBadRequest || a.code != proto.CodeBadSize {
		t.Fatalf("PUT with a swapped body: %d %s", a.status, a.code)
	}
	if _, err := e.db.GetBackup(context.Background(), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a swapped body was stored")
	}
}

// Security regression: a captured PUT cannot be sent again (to roll a
// backup back to an older one, say).
func TestReplayedPutRefused(t *testing.T) {
	e := newEnv(t, 0, nil)
	h, body := e.signedPut("alice", e.keys["alice"], aBackup)
	if a := e.send("PUT", "/v1/backup", h, body); a.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", a.status, a.code)
	}
	if a := e.send("PUT", "/v1/backup", h, body); a.status != http.StatusConflict || a.code != proto.CodeReplayedRequest {
		t.Fatalf("replayed PUT: %d %s, want 409 replayed_request", a.status, a.code)
	}
	e.clock.Advance(proto.MaxClockSkew + time.Minute)
	if a := e.send("PUT", "/v1/backup", h, body); a.status != http.StatusUnauthorized || a.code != proto.CodeStaleRequest {
		t.Fatalf("PUT replayed later: %d %s, want 401 stale_request", a.status, a.code)
	}
}

func TestOPRFLimitAndUnlock(t *testing.T) {
	e := newEnv(t, 3, nil)
	for i := 2; i >= 0; i-- {
		a := e.oprf("alice")
		var ans proto.BackupOPRFAnswer
		if a.status != http.StatusOK || json.Unmarshal(a.body, &ans) != nil || len(ans.Evaluated) != backup.ElementSize || ans.TriesLeft != i {
			t.Fatalf("evaluation: %d %s %s, want tries_left %d", a.status, a.code, a.body, i)
		}
	}
	a := e.oprf("alice")
	if a.status != http.StatusTooManyRequests || a.code != proto.CodeBackupLocked || a.retry != "86400" {
		t.Fatalf("fourth evaluation: %d %s retry %q, want 429 backup_locked after 86400 s", a.status, a.code, a.retry)
	}
	if strings.Contains(string(a.body), "evaluated") {
		t.Fatal("a locked answer carries an evaluation")
	}
	ev := e.svc.m.evaluations
	if n, l := counterValue(ev.WithLabelValues("answered")), counterValue(ev.WithLabelValues("locked")); n != 3 || l != 1 {
		t.Fatalf("metrics: %v answered, %v locked; want 3 and 1", n, l)
	}
	// Only the owner lifts the lock.
	unlock := func(signer *identity.IdentityPrivateKey) answer {
		body, err := proto.SignRequest(signer, proto.UnlockBackupRequest{RequestHeader: proto.RequestHeader{
			Op: proto.OpUnlockBackup, Username: "alice", Timestamp: e.clock.Now().Unix()}})
		if err != nil {
			t.Fatal(err)
		}
		return e.send("POST", "/v1/backup/unlock", http.Header{"Content-Type": {"application/json"}}, body)
	}
	if a := unlock(e.keys["mallory"]); a.status != http.StatusUnauthorized {
		t.Fatalf("unlock by mallory: %d %s", a.status, a.code)
	}
	if a := e.oprf("alice"); a.code != proto.CodeBackupLocked {
		t.Fatalf("after mallory's unlock: %d %s, want still locked", a.status, a.code)
	}
	if a := unlock(e.keys["alice"]); a.status != http.StatusOK {
		t.Fatalf("unlock by alice: %d %s", a.status, a.code)
	}
	if a := e.oprf("alice"); a.status != http.StatusOK {
		t.Fatalf("after alice's unlock: %d %s", a.status, a.code)
	}
	// Other accounts are counted apart; the window passes.
	if a := e.oprf("mallory"); a.status != http.StatusOK {
		t.Fatalf("mallory's evaluation: %d %s", a.status, a.code)
	}
	e.oprf("alice")
	e.oprf("alice")
	e.clock.Advance(24 * time.Hour)
	if a := e.oprf("alice"); a.status != http.StatusOK {
		t.Fatalf("after the window: %d %s", a.status, a.code)
	}
}

// An unknown username is answered like an account without a backup: an
// evaluation, and no_backup for the download.
func TestUnknownAccountLooksLikeNoBackup(t *testing.T) {
	e := newEnv(t, 0, nil)
	known, unknown := e.oprf("mallory"), e.oprf("nobody")
	if known.status != http.StatusOK || unknown.status != http.StatusOK {
		t.Fatalf("evaluations: known %d, unknown %d", known.status, unknown.status)
	}
	k, u := e.send("GET", "/v1/backup/mallory", nil, nil), e.send("GET", "/v1/backup/nobody", nil, nil)
	if k.status != u.status || k.code != u.code || strings.ReplaceAll(string(k.body), "mallory", "nobody") != string(u.body) {
		t.Fatalf("GET answers differ: %d %s vs %d %s", k.status, k.body, u.status, u.body)
	}
}

// countFails is a store whose evaluation counter fails.
type countFails struct {
	Store
	counted int
}

func (c *countFails) CountBackupEvaluation(context.Context, string, time.Time, time.Duration, int) (store.BackupCount, error) {
	c.counted++
	return store.BackupCount{}, &store.UnavailableError{Reason: "test", Err: errors.New("disk full")}
}

// Security regression: an evaluation that cannot be counted is not
// answered (counting comes first).
func TestOPRFNotAnsweredWhenNotCounted(t *testing.T) {
	var cf *countFails
	e := newEnv(t, 0, func(s Store) Store { cf = &countFails{Store: s}; return cf })
	a := e.oprf("alice")
	if a.status != http.StatusServiceUnavailable || strings.Contains(string(a.body), "evaluated") || cf.counted != 1 {
		t.Fatalf("uncounted evaluation: %d %s (counted %d), want 503 without an evaluation", a.status, a.body, cf.counted)
	}
}

// A malformed element is counted too: every request is a try.
func TestBadElementCounted(t *testing.T) {
	e := newEnv(t, 1, nil)
	body, _ := json.Marshal(proto.BackupOPRFRequest{Username: "alice", Blinded: make([]byte, backup.ElementSize)})
	if a := e.send("POST", "/v1/backup/oprf", http.Header{"Content-Type": {"application/json"}}, body); a.status != http.StatusBadRequest {
		t.Fatalf("identity element: %d %s", a.status, a.code)
	}
	if a := e.oprf("alice"); a.code != proto.CodeBackupLocked {
		t.Fatalf("after a bad element with a limit of 1: %d %s, want locked", a.status, a.code)
	}
}

// The OPRF secret is created once and shared through the store: a second
// service on the same database evaluates with the same key.
func TestSecretSharedAcrossInstances(t *testing.T) {
	e := newEnv(t, 0, nil)
	s1, _ := New(Config{Store: e.db})
	s2, _ := New(Config{Store: e.db})
	a, err := s1.serverSecret(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := s2.serverSecret(context.Background())
	if err != nil || !bytes.Equal(a, b) || len(a) != backup.SecretSize {
		t.Fatalf("secrets differ or fail: %v", err)
	}
}

// BenchmarkOPRF is one counted evaluation through the handler: decode,
// count in SQLite, derive k_u, evaluate, answer.
func BenchmarkOPRF(b *testing.B) {
	e := newEnv(b, 1<<30, nil)
	_, blinded, err := backup.Blind([]byte("correct horse"))
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(proto.BackupOPRFRequest{Username: "alice", Blinded: blinded})
	b.ResetTimer()
	for range b.N {
		resp, err := http.Post(e.srv.URL+"/v1/backup/oprf", "application/json", bytes.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
