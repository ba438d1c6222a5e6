package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/proto"
)

// closeWait bounds how long a test waits for the server to do something
// (close connections, recover); it never measures how fast that happened.
const closeWait = 15 * time.Second

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startLoggedServer runs a server in process whose log the test reads.
func startLoggedServer(t *testing.T, dataDir string) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cfg := Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dataDir
	s, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, logs
}

// healthz returns the status, Retry-After and body of GET /healthz, asked
// again until want comes (the probe result is reused for a second).
func healthz(t *testing.T, s *Server, want int) (int, string, string) {
	t.Helper()
	deadline := time.Now().Add(closeWait)
	for {
		resp, err := http.Get(s.HTTPURL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == want || time.Now().After(deadline) {
			return resp.StatusCode, resp.Header.Get("Retry-After"), strings.TrimSpace(string(b))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantUnavailable fails unless err is a 503 unavailable answer with a
// Retry-After.
func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Code != "unavailable" || ae.RetryAfter <= 0 {
		t.Fatalf("%s: %v, want 503 unavailable with Retry-After", what, err)
	}
	t.Logf("%s: %v (Retry-After %s)", what, err, ae.RetryAfter)
}

func envelopeOf(size int) []byte {
	env := make([]byte, size)
	rand.Read(env)
	env[0] = 0x01
	return env
}

// challenge asks for a login challenge of u's device, returning the nonce
// the device would answer with.
func challenge(api *apiclient.Client, s *Server, u *user) ([]byte, error) {
	body, _ := json.Marshal(map[string]any{"username": u.name, "device_id": u.dev.ID()})
	resp, err := http.Post(s.HTTPURL()+"/v1/auth/challenge", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, &apiclient.Error{Status: resp.StatusCode}
	}
	var ch struct{ Challenge []byte }
	if err := json.NewDecoder(resp.Body).Decode(&ch); err != nil {
		return nil, err
	}
	return proto.OpenChallenge(u.dev, ch.Challenge)
}

// answer sends a login answer and returns the server's error.
func answer(s *Server, u *user, nonce []byte) *apiclient.Error {
	body, _ := json.Marshal(map[string]any{"username": u.name, "device_id": u.dev.ID(), "response": nonce})
	resp, err := http.Post(s.HTTPURL()+"/v1/auth/token", "application/json", bytes.NewReader(body))
	if err != nil {
		return &apiclient.Error{Code: err.Error()}
	}
	defer resp.Body.Close()
	var e struct{ Error struct{ Code string } }
	json.NewDecoder(resp.Body).Decode(&e)
	ra, _ := time.ParseDuration(resp.Header.Get("Retry-After") + "s")
	return &apiclient.Error{Status: resp.StatusCode, Code: e.Error.Code, RetryAfter: ra}
}

// Regression (issue 9 item 11): with the database gone, clients got
// "internal server error (HTTP 500)", a login got challenge_failed 401 and
// /healthz still answered 200. Now every one of them is 503 unavailable
// with a Retry-After, and the cause is logged.
func TestDatabaseDownIsUnavailable(t *testing.T) {
	s, logs := startLoggedServer(t, t.TempDir())
	api := apiclient.New(s.HTTPURL(), nil)
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	alice.register(t, api, 0)
	bob.register(t, api, 0)
	ctx := context.Background()
	sa, err := api.Login(ctx, alice.name, alice.dev)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := api.Login(ctx, bob.name, bob.dev)
	nonce, err := challenge(api, s, alice)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := healthz(t, s, 200); code != 200 {
		t.Fatalf("healthz of a working server: %d", code)
	}

	s.store.Close() // the database goes away

	code, retry, body := healthz(t, s, 503)
	t.Logf("healthz with the database closed: %d (Retry-After %s) %s", code, retry, body)
	if code != 503 || retry == "" || !strings.Contains(body, "database is closed") {
		t.Fatal("want 503 with the reason and a Retry-After")
	}
	_, err = api.Send(ctx, sa.Token, sb.Mailbox, envelopeOf(1000))
	wantUnavailable(t, "send with the database closed", err)
	_, err = api.Login(ctx, alice.name, alice.dev)
	wantUnavailable(t, "login with the database closed", err)
	if e := answer(s, alice, nonce); e.Status != 503 || e.Code != "unavailable" || e.RetryAfter <= 0 {
		t.Fatalf("correct login answer with the database closed: %d %s, want 503 unavailable", e.Status, e.Code)
	}
	for _, want := range []string{"healthz: the store cannot take writes", "store unavailable: answering 503", "auth: login failed", "database is closed"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs.String())
		}
	}
}
