package links

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
)

// tokens accepts "user" as the token of account user.
type tokens struct{}

func (tokens) VerifyToken(_ context.Context, tok string) (httpapi.Principal, error) {
	if tok == "" || strings.ContainsAny(tok, " :") {
		return httpapi.Principal{}, errors.New("bad token")
	}
	return httpapi.Principal{Username: tok, DeviceID: 1}, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t   *testing.T
	h   http.Handler
	clk *clock
}

func newEnv(t *testing.T) *env {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	return &env{t: t, h: New(tokens{}, clk.now, nil).Handler(), clk: clk}
}

func (e *env) do(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func code(b []byte) string {
	var e proto.ErrorAnswer
	json.Unmarshal(b, &e)
	return e.Error.Code
}

var key = bytes.Repeat([]byte{7}, proto.LinkKeySize)

func (e *env) open() string {
	e.t.Helper()
	st, b := e.do("POST", "/v1/links", "", proto.LinkOpenRequest{PublicKey: key})
	if st != http.StatusCreated {
		e.t.Fatalf("open: %d %s", st, b)
	}
	var a proto.LinkOpenAnswer
	json.Unmarshal(b, &a)
	return a.ID
}

func TestLinkSlot(t *testing.T) {
	e := newEnv(t)
	if st, b := e.do("POST", "/v1/links", "", proto.LinkOpenRequest{PublicKey: key[:10]}); st != 400 || code(b) != proto.CodeBadRequest {
		t.Fatalf("short key: %d %s", st, b)
	}
	id := e.open()
	st, b := e.do("GET", "/v1/links/"+id, "", nil)
	var k proto.LinkKeyAnswer
	if json.Unmarshal(b, &k); st != 200 || !bytes.Equal(k.PublicKey, key) {
		t.Fatalf("key: %d", st)
	}
	// Not answered yet: 204 after the wait.
	if st, _ := e.do("GET", "/v1/links/"+id+"/answer?wait=0", "", nil); st != 204 {
		t.Fatalf("pending answer: %d", st)
	}
	// Answering needs a logged-in device.
	if st, _ := e.do("POST", "/v1/links/"+id+"/answer", "", proto.LinkAnswer{Ciphertext: []byte("ct")}); st != 401 {
		t.Fatalf("anonymous answer: %d", st)
	}
	if st, b := e.do("POST", "/v1/links/"+id+"/answer", "alice", proto.LinkAnswer{Ciphertext: []byte("ct")}); st != 204 {
		t.Fatalf("answer: %d %s", st, b)
	}
	// Once only.
	if st, b := e.do("POST", "/v1/links/"+id+"/answer", "mallory", proto.LinkAnswer{Ciphertext: []byte("evil")}); st != 409 || code(b) != proto.CodeLinkAnswered {
		t.Fatalf("second answer: %d %s", st, b)
	}
	st, b = e.do("GET", "/v1/links/"+id+"/answer?wait=0", "", nil)
	var a proto.LinkAnswer
	if json.Unmarshal(b, &a); st != 200 || string(a.Ciphertext) != "ct" {
		t.Fatalf("fetch: %d %s", st, b)
	}
	// Fetched: gone.
	if st, b := e.do("GET", "/v1/links/"+id, "", nil); st != 404 || code(b) != proto.CodeUnknownLink {
		t.Fatalf("after fetch: %d %s", st, b)
	}
	if st, _ := e.do("GET", "/v1/links/not-base32!", "", nil); st != 400 {
		t.Fatalf("malformed id: %d", st)
	}
}

func TestLinkSlotExpires(t *testing.T) {
	e := newEnv(t)
	id := e.open()
	e.clk.add(SlotTTL + time.Second)
	if st, b := e.do("GET", "/v1/links/"+id, "", nil); st != 404 || code(b) != proto.CodeUnknownLink {
		t.Fatalf("expired: %d %s", st, b)
	}
	if st, _ := e.do("POST", "/v1/links/"+id+"/answer", "alice", proto.LinkAnswer{Ciphertext: []byte("ct")}); st != 404 {
		t.Fatalf("answer to an expired slot: %d", st)
	}
}

// A long poll returns as soon as the answer is posted.
func TestLinkAnswerWakesWaiter(t *testing.T) {
	e := newEnv(t)
	id := e.open()
	got := make(chan int, 1)
	go func() {
		st, _ := e.do("GET", "/v1/links/"+id+"/answer?wait=20", "", nil)
		got <- st
	}()
	time.Sleep(50 * time.Millisecond)
	e.do("POST", "/v1/links/"+id+"/answer", "alice", proto.LinkAnswer{Ciphertext: []byte("ct")})
	if st := <-got; st != 200 {
		t.Fatalf("waiter got %d", st)
	}
}

func TestRecoverySlot(t *testing.T) {
	e := newEnv(t)
	st, b := e.do("POST", "/v1/recovery", "", proto.RecoveryOpenRequest{Username: "alice", PublicKey: key})
	if st != 201 {
		t.Fatalf("open: %d %s", st, b)
	}
	var a proto.LinkOpenAnswer
	json.Unmarshal(b, &a)
	// A recovery id is not a link id, and the other way round.
	if st, _ := e.do("GET", "/v1/links/"+a.ID, "", nil); st != 404 {
		t.Fatalf("recovery slot served as a link: %d", st)
	}
	link := e.open()
	if st, b := e.do("GET", "/v1/recovery/"+link, "", nil); st != 404 || code(b) != proto.CodeUnknownRecovery {
		t.Fatalf("link slot served as a recovery: %d %s", st, b)
	}
	st, b = e.do("GET", "/v1/recovery/"+a.ID, "", nil)
	var k proto.RecoveryKeyAnswer
	if json.Unmarshal(b, &k); st != 200 || k.Username != "alice" || !bytes.Equal(k.PublicKey, key) {
		t.Fatalf("recovery key: %d %+v", st, k)
	}
	for _, holder := range []string{"bob", "carol", "bob"} { // bob's second answer replaces his first
		if st, b := e.do("POST", "/v1/recovery/"+a.ID+"/answer", holder, proto.LinkAnswer{Ciphertext: []byte("share of " + holder)}); st != 204 {
			t.Fatalf("answer by %s: %d %s", holder, st, b)
		}
	}
	st, b = e.do("GET", "/v1/recovery/"+a.ID+"/answers?have=0&wait=0", "", nil)
	var got proto.RecoveryAnswers
	// In the order they first came; bob's second answer took his place.
	if json.Unmarshal(b, &got); st != 200 || len(got.Ciphertexts) != 2 ||
		string(got.Ciphertexts[0]) != "share of bob" || string(got.Ciphertexts[1]) != "share of carol" {
		t.Fatalf("answers: %d %q", st, got.Ciphertexts)
	}
	if st, _ := e.do("GET", "/v1/recovery/"+a.ID+"/answers?have=2&wait=0", "", nil); st != 204 {
		t.Fatalf("no new answers: %d", st)
	}
	if st, _ := e.do("POST", "/v1/recovery/"+a.ID+"/answer", "", proto.LinkAnswer{Ciphertext: []byte("x")}); st != 401 {
		t.Fatalf("anonymous share: %d", st)
	}
	if st, _ := e.do("POST", "/v1/recovery", "", proto.RecoveryOpenRequest{Username: "A!", PublicKey: key}); st != 400 {
		t.Fatalf("bad username: %d", st)
	}
}
