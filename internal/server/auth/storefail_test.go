package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/store"
)

// Regression (issue 9 item 11): with the store failing, a correct login
// answer was refused as challenge_failed (401) and nothing was logged.
// Only a wrong answer is challenge_failed; a store failure is 503
// unavailable with a Retry-After, and its cause is logged.
func TestAnswerDuringStoreFailureIsUnavailable(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	f.svc.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()
	sealed, err := f.svc.Challenge(ctx, "alice", 1)
	if err != nil {
		t.Fatal(err)
	}
	g := f.login(t)
	nonce, _ := proto.OpenChallenge(f.dev, sealed)
	f.st.Close() // the database goes away

	_, err = f.svc.Answer(ctx, "alice", 1, nonce)
	if errors.Is(err, ErrInvalidToken) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Answer with the store down: %v", err)
	}
	if _, err := f.svc.VerifyToken(ctx, g.Token); errors.Is(err, ErrInvalidToken) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("VerifyToken with the store down: %v", err)
	}

	b, _ := json.Marshal(proto.TokenRequest{Username: "alice", DeviceID: 1, Response: nonce})
	rec := httptest.NewRecorder()
	f.svc.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/auth/token", bytes.NewReader(b)))
	t.Logf("login answer with the store down: %d %s (Retry-After %q); log: %s", rec.Code, strings.TrimSpace(rec.Body.String()), rec.Header().Get("Retry-After"), strings.TrimSpace(logs.String()))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"unavailable"`) || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("want 503 unavailable with Retry-After")
	}
	if !strings.Contains(logs.String(), "database is closed") {
		t.Fatalf("the cause is not logged: %s", logs.String())
	}

	logs.Reset()
	rec = f.challengeFrom("192.0.2.1:1", 1)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(logs.String(), "database is closed") {
		t.Fatalf("challenge with the store down: %d %s; log %s", rec.Code, rec.Body, logs.String())
	}
}
