package relay

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// downTokens is a TokenVerifier whose store can be switched off: while it
// is down, every check fails with store.ErrUnavailable, as the auth
// service's does when its database cannot answer.
type downTokens struct {
	*testTokens
	down atomic.Bool
}

func (v *downTokens) VerifyToken(ctx context.Context, tok string) (httpapi.Principal, error) {
	if v.down.Load() {
		return httpapi.Principal{}, fmt.Errorf("checking token: %w: database is closed", store.ErrUnavailable)
	}
	return v.testTokens.VerifyToken(ctx, tok)
}

// A CONNECT whose token cannot be checked because the store is down is
// answered "server unavailable" (MQTT 5 0x88, MQTT 3.1.1 return code 3),
// which clients retry, not "not authorized", which sends a client to log
// in again against a server that cannot answer that either.
func TestConnectDuringStoreFailureIsUnavailable(t *testing.T) {
	var tokens *downTokens
	e := newEnv(t, Limits{}, func(c *Config) {
		tokens = &downTokens{testTokens: c.Tokens.(*testTokens)}
		c.Tokens = tokens
	})
	me := e.device(t, "me")
	tokens.down.Store(true)
	_, ca, err := e.tryConnect5(t, me.mailbox, me.token, "me-1", false, nil)
	if err == nil || ca == nil || ca.ReasonCode != 0x88 {
		t.Fatalf("MQTT 5 CONNECT while the store is down: %v %+v, want CONNACK 0x88 server unavailable", err, ca)
	}
	_, code3, err := e.tryConnect3(t, e.opts3(me, false))
	if err == nil || code3 != 3 {
		t.Fatalf("MQTT 3.1.1 CONNECT while the store is down: return code %d, %v; want 3 (server unavailable)", code3, err)
	}
	// Once the store answers again, a bad token is "not authorized" and
	// a good one connects.
	tokens.down.Store(false)
	_, ca, err = e.tryConnect5(t, me.mailbox, "not-a-token", "me-2", false, nil)
	if err == nil || ca == nil || ca.ReasonCode != 0x87 {
		t.Fatalf("bad token: %v %+v, want 0x87", err, ca)
	}
	if _, _, err := e.tryConnect5(t, me.mailbox, me.token, "me-3", false, nil); err != nil {
		t.Fatalf("CONNECT after the store came back: %v", err)
	}
}
