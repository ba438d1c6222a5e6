package relay

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// failingTokens is a TokenVerifier whose store can be made to fail.
type failingTokens struct {
	httpapi.TokenVerifier
	failing atomic.Bool
}

func (f *failingTokens) VerifyToken(ctx context.Context, tok string) (httpapi.Principal, error) {
	if f.failing.Load() {
		return httpapi.Principal{}, &store.UnavailableError{Reason: "database is closed", Err: errors.New("closed")}
	}
	return f.TokenVerifier.VerifyToken(ctx, tok)
}

// Regression (issue 9 item 11): while the store fails, a publish is
// answered "unavailable" (PUBACK 0x83), not an unspecified internal
// error, and the token re-check does not throw every device off: a token
// that could not be checked is not a bad one.
func TestStoreFailureOverMQTT(t *testing.T) {
	ft := &failingTokens{}
	e := newEnv(t, Limits{}, func(c *Config) {
		ft.TokenVerifier = c.Tokens
		c.Tokens = ft
	})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	cl := e.connect5(t, alice, false)

	ft.failing.Store(true)
	e.r.recheckTokens()
	ft.failing.Store(false)
	if code, reason := cl.publish(proto.InboxTopic(bob.mailbox), sealed(100)); code >= 0x80 {
		t.Fatalf("publish after a re-check during the failure: %#x %s", code, reason)
	}

	e.db.Close()
	code, reason := cl.publish(proto.InboxTopic(bob.mailbox), sealed(100))
	t.Logf("publish with the store closed: PUBACK %#x %q", code, reason)
	if code != reasonImplSpecific || reason != rejUnavailable.message {
		t.Fatalf("publish with the store closed: %#x %q, want %#x unavailable", code, reason, reasonImplSpecific)
	}
}
