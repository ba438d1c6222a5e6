package relay

import (
	"bytes"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/proto"
)

// Security regression (issue 9, item 3): a device that opens many MQTT
// connections gets no more than the per-device cap, and the connections
// it has share one rate-limit bucket with each other and with its HTTP
// sends, so more connections do not mean more envelopes.
func TestSecurityRateLimitIsPerDeviceNotPerConnection(t *testing.T) {
	const burst = 20
	e := newEnv(t, Limits{Burst: burst, RatePerSec: 1})
	me, bob := e.device(t, "me"), e.device(t, "bob")
	baseline := runtime.NumGoroutine()

	// Many connections, each with its own client id: beyond the cap
	// the CONNECT is refused with "quota exceeded" (MQTT 5) or "server
	// unavailable" (MQTT 3.1.1).
	const attempts = 12
	var open []*client5
	refused := 0
	for i := range attempts {
		cl, ca, err := e.tryConnect5(t, me.mailbox, me.token, "me-"+itoa(int64(i)), false, nil)
		switch {
		case err == nil:
			open = append(open, cl)
		case ca != nil && ca.ReasonCode == 0x97:
			refused++
		default:
			t.Fatalf("connection %d: %v (CONNACK %+v)", i, err, ca)
		}
	}
	_, code3, err := e.tryConnect3(t, e.opts3(me, false))
	t.Logf("%d MQTT 5 connections attempted by one device: %d accepted, %d refused (0x97); MQTT 3.1.1 beyond the cap: return code %d", attempts, len(open), refused, code3)
	if len(open) != DefaultMaxConnsPerDevice || refused != attempts-DefaultMaxConnsPerDevice {
		t.Errorf("%d accepted, %d refused; want the cap %d", len(open), refused, DefaultMaxConnsPerDevice)
	}
	if err == nil || code3 != 3 {
		t.Errorf("MQTT 3.1.1 connection beyond the cap: return code %d, %v; want 3 (server unavailable)", code3, err)
	}

	// The clock stands still: across all its connections the device
	// gets exactly one burst.
	accepted, limited := 0, 0
	for i := range 3 * burst {
		code, reason := open[i%len(open)].publish(proto.InboxTopic(bob.mailbox), sealed(200))
		switch {
		case code < 0x80:
			accepted++
		case code == reasonQuotaExceeded && reason == rejRate.message:
			limited++
		default:
			t.Fatalf("publish %d: %#x %q", i, code, reason)
		}
	}
	t.Logf("%d publishes over %d connections of one device, clock held: %d accepted, %d refused as rate limited", 3*burst, len(open), accepted, limited)
	if accepted != burst {
		t.Fatalf("%d publishes accepted across %d connections, want one burst of %d", accepted, len(open), burst)
	}

	// HTTP draws on the same bucket.
	post := func() (int, string) {
		return e.call(t, me, "POST", "/v1/mailboxes/"+bob.mailbox+"/envelopes", "application/octet-stream", bytes.NewReader(sealed(200)), nil)
	}
	if st, code := post(); st != http.StatusTooManyRequests || code != "rate_limited" {
		t.Fatalf("HTTP send after the MQTT burst: %d %s, want 429 rate_limited", st, code)
	}
	e.clock.Add(time.Second) // one token
	if st, code := post(); st != http.StatusAccepted {
		t.Fatalf("HTTP send after a refill: %d %s", st, code)
	}
	if code, _ := open[0].publish(proto.InboxTopic(bob.mailbox), sealed(200)); code != reasonQuotaExceeded {
		t.Fatalf("MQTT send after HTTP took the token: %#x, want rate limited", code)
	}

	// Closing a connection frees its place under the cap.
	open[0].close()
	waitFor(t, "the relay to forget the closed connection", func() bool { return len(e.r.conns.forMailbox(me.mailbox)) == len(open)-1 })
	again, _, err := e.tryConnect5(t, me.mailbox, me.token, "me-again", false, nil)
	if err != nil {
		t.Fatalf("connect after one closed: %v", err)
	}
	open[0] = again

	for _, cl := range open {
		cl.close()
	}
	http.DefaultClient.CloseIdleConnections() // the HTTP sends' keep-alive connections
	deadline := time.Now().Add(waitTimeout)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before the connections, %d after they closed:\n%s", baseline, n, buf[:runtime.Stack(buf, true)])
	}
	t.Logf("goroutines: %d before the connections, %d after they closed", baseline, runtime.NumGoroutine())
}

// A device reconnecting with the client id of a connection the relay
// still holds takes that connection over (MQTT session takeover) instead
// of being refused as one connection too many: a client whose network
// dropped is not locked out by its own stale connections.
func TestConnectionCapAdmitsTakeover(t *testing.T) {
	e := newEnv(t, Limits{})
	me := e.device(t, "me")
	var open []*client5
	for i := range DefaultMaxConnsPerDevice {
		cl, _, err := e.tryConnect5(t, me.mailbox, me.token, "me-"+itoa(int64(i)), false, nil)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, cl)
	}
	_, ca, err := e.tryConnect5(t, me.mailbox, me.token, "me-0", false, nil)
	if err != nil {
		t.Fatalf("takeover at the cap refused: %v %+v", err, ca)
	}
	select {
	case <-open[0].c.Done():
	case <-time.After(waitTimeout):
		t.Fatal("the taken-over connection stayed open")
	}
	_, ca, err = e.tryConnect5(t, me.mailbox, me.token, "me-new", false, nil)
	if err == nil || ca == nil || ca.ReasonCode != 0x97 {
		t.Fatalf("new client id at the cap: %v %+v, want 0x97", err, ca)
	}
}
