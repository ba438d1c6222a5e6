package relay

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hush-chat/hush/internal/proto"
)

// Security regression: a device can subscribe to nothing but its own
// inbox and status topics — not another device's inbox, not a wildcard,
// not a shared subscription, not $SYS.
func TestSecuritySubscribeOnlyOwnTopics(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob, eve := e.device(t, "alice"), e.device(t, "bob"), e.device(t, "eve")
	filters := []string{proto.
		InboxTopic(bob.mailbox), proto.StatusTopic(bob.mailbox), proto.AckTopic(bob.mailbox), proto.AckTopic(eve.mailbox), "#", "+", "hush/#", "hush/v1/inbox/+", "hush/v1/+/" + bob.mailbox, "+/v1/inbox/" + bob.mailbox,
		"$share/g/" + proto.InboxTopic(bob.mailbox), "$share/g/" + proto.InboxTopic(eve.mailbox), "$SYS/#", "hush/v1/inbox/",
	}
	for _, f := range filters {
		if code := e.rawSubscribe(t, eve, f); code < 0x80 {
			t.Errorf("security: eve subscribed to %q (SUBACK %#x)", f, code)
		}
	}
	ev3 := e.connect3(t, eve, false)
	for _, f := range filters {
		if code := ev3.subscribe(f); code != 0x80 {
			t.Errorf("security: 3.1.1 eve subscribed to %q (SUBACK %#x)", f, code)
		}
	}
	// Eve is subscribed to her own inbox only; bob's mail never reaches her.
	ev := e.connect5(t, eve, false)
	if code := ev.subscribe(proto.InboxTopic(eve.mailbox)); code != 1 {
		t.Fatalf("own inbox refused: %#x", code)
	}
	if code := ev.subscribe(proto.StatusTopic(eve.mailbox)); code != 1 {
		t.Fatalf("own status topic refused: %#x", code)
	}
	a := e.connect5(t, alice, false)
	a.send(bob, sealed(300))
	a.send(eve, sealed(300))
	if p := ev.next(); p.Topic != proto.InboxTopic(eve.mailbox) {
		t.Fatalf("security: eve received a message on %s", p.Topic)
	}
	select {
	case m := <-ev3.msgs:
		t.Fatalf("security: 3.1.1 eve received a message on %s", m.Topic())
	default:
	}
}

// Security regression: acks delete envelopes of the acknowledging
// device's own mailbox only.
func TestSecurityCannotAckOthersEnvelopes(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob, eve := e.device(t, "alice"), e.device(t, "bob"), e.device(t, "eve")
	a := e.connect5(t, alice, false)
	a.send(bob, sealed(300))
	a.send(bob, sealed(300))
	stored := e.pending(t, bob.mailbox)
	seqs := []int64{stored[0].Seq, stored[1].Seq}

	ev := e.connect5(t, eve, false)
	if code, _ := ev.ack(bob.mailbox, seqs...); code != reasonNotAuthorized {
		t.Errorf("ack on bob's ack topic: %#x, want not authorized", code)
	}
	if code, _ := ev.ack(eve.mailbox, seqs...); code >= 0x80 {
		t.Errorf("ack on own topic: %#x", code)
	}
	// HTTP: the mailbox comes from the token.
	var out ackResponse
	if st := e.postJSON(t, eve, "/v1/mailbox/ack", ackRequest{Seqs: seqs}, &out); st != 200 || out.Deleted != 0 {
		t.Errorf("HTTP ack of bob's seqs by eve: %d deleted %d", st, out.Deleted)
	}
	if got := e.pending(t, bob.mailbox); len(got) != 2 {
		t.Fatalf("security: eve deleted bob's envelopes (%d left)", len(got))
	}
}

// Security regression: reusing another device's client id neither takes
// over its session nor inherits its subscriptions.
func TestSecurityClientIDTakeover(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob, eve := e.device(t, "alice"), e.device(t, "bob"), e.device(t, "eve")
	b, _, err := e.tryConnect5(t, bob.mailbox, bob.token, "phone", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.subscribe(proto.InboxTopic(bob.mailbox))
	ev, _, err := e.tryConnect5(t, eve.mailbox, eve.token, "phone", false, func(c *paho.Connect) { c.CleanStart = false })
	if err != nil {
		t.Fatal(err)
	}
	ev.subscribe(proto.InboxTopic(eve.mailbox))
	a := e.connect5(t, alice, false)
	a.send(bob, sealed(300))
	if _, env := b.nextDelivery(); env == nil {
		t.Fatal("bob lost his session")
	}
	a.send(eve, sealed(300))
	if p := ev.next(); p.Topic != proto.InboxTopic(eve.mailbox) {
		t.Fatalf("security: eve inherited bob's subscription (%s)", p.Topic)
	}
	select {
	case d := <-b.down:
		t.Fatalf("security: bob's session was taken over (%#x)", d.ReasonCode)
	default:
	}
}

func TestConnectRefused(t *testing.T) {
	e := newEnv(t, Limits{})
	bob, eve := e.device(t, "bob"), e.device(t, "eve")
	expired := e.device(t, "old")
	e.tokens.put(expired.token, e.tokens.m[expired.token].p, time.Minute)
	e.clock.Add(2 * time.Minute)
	cases := []struct{ name, user, pass string }{
		{"anonymous", "", ""},
		{"no password", bob.mailbox, ""},
		{"bad token", bob.mailbox, "not-a-token"},
		{"another device's token", bob.mailbox, eve.token},
		{"token as username", bob.token, bob.token},
		{"expired token", expired.mailbox, expired.token},
	}
	for _, c := range cases {
		for _, tr := range transports {
			t.Run(c.name+"/"+tr.name, func(t *testing.T) {
				_, ca, err := e.tryConnect5(t, c.user, c.pass, "", tr.ws, nil)
				if err == nil || ca == nil || ca.ReasonCode != reasonNotAuthorized {
					t.Fatalf("MQTT 5: err %v connack %+v, want refused with 0x87", err, ca)
				}
				opts := e.opts3(device{mailbox: c.user, token: c.pass}, tr.ws)
				_, code, err := e.tryConnect3(t, opts)
				if err == nil || code != 5 {
					t.Fatalf("MQTT 3.1.1: err %v code %d, want refused with 5 (not authorized)", err, code)
				}
			})
		}
	}
	if n := len(e.r.conns.all()); n != 0 {
		t.Errorf("%d refused connections left in the relay's table", n)
	}
}

// A connection whose token stops verifying (expiry, revocation) is
// disconnected.
func TestTokenExpiryDisconnects(t *testing.T) {
	e := newEnv(t, Limits{TokenRecheck: 20 * time.Millisecond})
	bob, carol := e.device(t, "bob"), e.device(t, "carol")
	b := e.connect5(t, bob, false)
	b.subscribe(proto.InboxTopic(bob.mailbox))
	c := e.connect3(t, carol, false)
	e.tokens.put(bob.token, e.tokens.m[bob.token].p, time.Minute)
	e.clock.Add(2 * time.Minute) // bob's token expires
	e.tokens.revoke(carol.token) // carol's is revoked
	select {
	case d := <-b.down:
		if d.ReasonCode != reasonNotAuthorized {
			t.Errorf("disconnect reason %#x, want 0x87", d.ReasonCode)
		}
	case <-time.After(waitTimeout):
		t.Fatal("MQTT 5 connection with an expired token still open")
	}
	select {
	case <-c.lost:
	case <-time.After(waitTimeout):
		t.Fatal("MQTT 3.1.1 connection with an expired token still open")
	}
}

// No retained message is kept and no will is published: nothing reaches
// a device that its sender did not send while connected.
func TestRetainAndWillIgnored(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob, carol := e.device(t, "alice"), e.device(t, "bob"), e.device(t, "carol")
	opts := e.opts3(alice, false).SetBinaryWill(proto.InboxTopic(bob.mailbox), sealed(300), 1, false)
	a, _, err := e.tryConnect3(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	retained := sealed(300)
	tok := a.c.Publish(proto.InboxTopic(bob.mailbox), 1, true, retained)
	if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatal("retained publish refused")
	}
	// Drop alice's connection without DISCONNECT: a will would fire now.
	e.r.disconnect(e.r.conns.forMailbox(alice.mailbox)[0], packets.ErrUnspecifiedError)
	waitFor(t, "alice's connection to end", func() bool { return len(e.r.conns.forMailbox(alice.mailbox)) == 0 })
	if got := e.pending(t, bob.mailbox); len(got) != 1 {
		t.Fatalf("%d envelopes stored for bob, want 1 (no will)", len(got))
	}
	b := e.connect3(t, bob, false)
	b.subscribe(proto.InboxTopic(bob.mailbox))
	marker := sealed(300)
	e.connect3(t, carol, false).send(bob, marker)
	// A retained copy would be queued at subscribe time, before the
	// marker: until both the stored envelope (as a delivery frame) and the
	// marker have arrived, in either order, nothing else may (either may
	// repeat: live and from the backlog).
	want := map[string]bool{string(retained): true, string(marker): true}
	pending := len(want)
	for pending > 0 {
		_, env, m := b.nextDelivery()
		if m.Retained() {
			t.Error("delivery marked retained")
		}
		first, known := want[string(env)]
		if !known {
			t.Fatalf("unexpected message (retained copy or will?)")
		}
		if first {
			want[string(env)] = false
			pending--
		}
	}
}

// Security regression: neither a bearer token nor a message body reaches
// a log line, even at debug level and on refusals (the broker logs whole
// packets; the relay strips them).
func TestLogsHoldNoSecrets(t *testing.T) {
	var buf syncBuffer
	e := newEnv(t, Limits{MaxEnvelope: 2048}, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	body := append([]byte{0x01}, []byte(strings.Repeat("SECRETBODY", 300))...)
	a := e.connect5(t, alice, false)
	a.send(bob, body[:500])
	a.publish(proto.InboxTopic(bob.mailbox), body)                    // too large: refused
	a.publish(proto.InboxTopic(randHex(16)), body[:500])              // unknown mailbox
	a.publish("hush/v1/elsewhere", body[:500])                        // not authorized
	e.tryConnect5(t, bob.mailbox, "wrong-"+bob.token, "", false, nil) // bad token
	a3 := e.connect3(t, alice, false)
	a3.publish(proto.InboxTopic(randHex(16)), body[:500])
	a3.send(bob, body[:500])
	e.r.Close(t.Context())
	logs := buf.String()
	for _, secret := range []string{"SECRETBODY", alice.token, bob.token} {
		for _, form := range printedForms([]byte(secret)) {
			if strings.Contains(logs, form) {
				t.Fatalf("security: a secret reached the logs as %q:\n%s", form, logs)
			}
		}
	}
	if !strings.Contains(logs, "component=mqtt") {
		t.Fatalf("broker logs not captured, the test proves nothing:\n%s", logs)
	}
}

// printedForms are the ways a log line may show secret bytes: as text,
// hex, base64, or Go's %v of a byte slice ("[83 69 67 …]").
func printedForms(secret []byte) []string {
	dec := fmt.Sprint(secret)
	return []string{string(secret), hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret)[:8], dec[1 : len(dec)-1]}
}

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
