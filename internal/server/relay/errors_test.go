package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/store"
)

// refusal is one way to make the relay refuse a publish, with the answer
// expected in each protocol.
type refusal struct {
	name   string
	reason byte   // MQTT 5 PUBACK reason code
	code   string // status notice / HTTP error code
}

// refusalEnv has a relay with small limits and a fresh bob per case.
func refusalEnv(t *testing.T) *testEnv {
	// MaxCount 2: a sender's share is 1 envelope.
	return newEnv(t, Limits{MaxEnvelope: 4096, Mailbox: store.MailboxLimits{MaxCount: 2}, AccountMaxBytes: 2000, Burst: 5, RatePerSec: 1})
}

// refusals returns the cases; run publishes the refused message with
// publish(topic, payload) and may use send for setup.
func refusals(e *testEnv, t *testing.T) []struct {
	refusal
	run func(publish func(topic string, payload []byte), me device)
} {
	type c = struct {
		refusal
		run func(publish func(topic string, payload []byte), me device)
	}
	bob := e.device(t, "bob"+randHex(2))
	return []c{
		{refusal{"unknown mailbox", reasonTopicInvalid, "unknown_mailbox"}, func(pub func(string, []byte), _ device) {
			pub(proto.InboxTopic(randHex(16)), sealed(300))
		}},
		{refusal{"malformed mailbox", reasonTopicInvalid, "unknown_mailbox"}, func(pub func(string, []byte), _ device) {
			pub(proto.InboxPrefix+"Bob", sealed(300))
		}},
		{refusal{"oversized envelope", reasonTooLarge, "envelope_too_large"}, func(pub func(string, []byte), _ device) {
			pub(proto.InboxTopic(bob.mailbox), sealed(4097))
		}},
		{refusal{"not an envelope", reasonPayloadFormat, "bad_envelope"}, func(pub func(string, []byte), _ device) {
			pub(proto.InboxTopic(bob.mailbox), append([]byte{0x7f}, sealed(300)...))
		}},
		{refusal{"empty payload", reasonPayloadFormat, "bad_envelope"}, func(pub func(string, []byte), _ device) {
			pub(proto.InboxTopic(bob.mailbox), nil)
		}},
		{refusal{"other topic", reasonNotAuthorized, "not_authorized"}, func(pub func(string, []byte), _ device) {
			pub("hush/v1/other", sealed(300))
		}},
		{refusal{"another device's ack topic", reasonNotAuthorized, "not_authorized"}, func(pub func(string, []byte), _ device) {
			frame, _ := proto.EncodeAck([]int64{1})
			pub(proto.AckTopic(bob.mailbox), frame)
		}},
		{refusal{"malformed ack", reasonPayloadFormat, "bad_ack"}, func(pub func(string, []byte), me device) {
			pub(proto.AckTopic(me.mailbox), []byte{1, 0, 2, 0})
		}},
		{refusal{"mailbox full", reasonQuotaExceeded, "mailbox_full"}, func(pub func(string, []byte), _ device) {
			full := e.device(t, "full"+randHex(2))
			for range 2 {
				if _, err := e.r.Submit(t.Context(), full.mailbox, sealed(300)); err != nil {
					t.Fatal(err)
				}
			}
			pub(proto.InboxTopic(full.mailbox), sealed(300))
		}},
		{refusal{"share of the mailbox full", reasonQuotaExceeded, "mailbox_share_full"}, func(pub func(string, []byte), _ device) {
			to := e.device(t, "to"+randHex(4))
			pub(proto.InboxTopic(to.mailbox), sealed(300))
			pub(proto.InboxTopic(to.mailbox), sealed(300))
		}},
		{refusal{"account storage full", reasonQuotaExceeded, "account_storage_full"}, func(pub func(string, []byte), _ device) {
			pub(proto.InboxTopic(e.device(t, "to"+randHex(4)).mailbox), sealed(1500))
			pub(proto.InboxTopic(e.device(t, "to"+randHex(4)).mailbox), sealed(600))
		}},
		{refusal{"rate limit", reasonQuotaExceeded, "rate_limited"}, func(pub func(string, []byte), _ device) {
			// Burst 5 and a clock that does not move: the sixth send
			// on this connection is over the limit.
			for range 5 {
				pub(proto.InboxTopic(e.device(t, "to"+randHex(4)).mailbox), sealed(300))
			}
			pub(proto.InboxTopic(bob.mailbox), sealed(300))
		}},
	}
}

func TestPublishRefusedMQTT5(t *testing.T) {
	e := refusalEnv(t)
	for _, rc := range refusals(e, t) {
		t.Run(rc.name, func(t *testing.T) {
			me := e.device(t, "me"+randHex(2))
			cl := e.connect5(t, me, false)
			var code byte
			var reason string
			rc.run(func(topic string, payload []byte) { code, reason = cl.publish(topic, payload) }, me)
			if code != rc.reason || reason == "" {
				t.Fatalf("PUBACK %#x %q, want %#x with a reason string", code, reason, rc.reason)
			}
			// The connection stays usable after a refusal.
			other := e.device(t, "ok"+randHex(2))
			if code, _ := cl.publish(proto.InboxTopic(other.mailbox), sealed(300)); code >= 0x80 && rc.code != "rate_limited" {
				t.Fatalf("publish after refusal: %#x", code)
			}
		})
	}
}

// MQTT 3.1.1 has no reason codes: a refused publish gets no PUBACK and the
// relay explains itself on the sender's status topic.
func TestPublishRefusedMQTT311(t *testing.T) {
	e := refusalEnv(t)
	for _, rc := range refusals(e, t) {
		t.Run(rc.name, func(t *testing.T) {
			me := e.device(t, "me"+randHex(2))
			cl := e.connect3(t, me, false)
			cl.subscribeStatus(me)
			var last struct {
				topic string
				done  <-chan struct{}
			}
			rc.run(func(topic string, payload []byte) {
				tok := cl.publish(topic, payload)
				last.topic, last.done = topic, tok.Done()
			}, me)
			n := cl.nextStatus()
			if n.Code != rc.code || n.Topic != last.topic || n.Message == "" || n.PacketID == 0 {
				t.Fatalf("status notice %+v, want code %s for topic %s", n, rc.code, last.topic)
			}
			select {
			case <-last.done:
				t.Fatal("refused publish was acknowledged")
			default:
			}
			if strings.Contains(n.Message, me.token) {
				t.Fatal("security: token in a status notice")
			}
		})
	}
}

// QoS 0 publishes have no PUBACK in either version: refusals go to the
// status topic.
func TestPublishRefusedQoS0(t *testing.T) {
	e := refusalEnv(t)
	me := e.device(t, "me")
	cl := e.connect3(t, me, false)
	cl.subscribeStatus(me)
	cl.c.Publish(proto.InboxTopic(randHex(16)), 0, false, sealed(300))
	if n := cl.nextStatus(); n.Code != "unknown_mailbox" || n.PacketID != 0 {
		t.Fatalf("status notice %+v", n)
	}
}

// The rate limit refills with time (on the relay's clock).
func TestRateLimitRefills(t *testing.T) {
	e := newEnv(t, Limits{Burst: 2, RatePerSec: 1})
	me, bob := e.device(t, "me"), e.device(t, "bob")
	cl := e.connect5(t, me, false)
	for range 2 {
		cl.send(bob, sealed(300))
	}
	if code, _ := cl.publish(proto.InboxTopic(bob.mailbox), sealed(300)); code != reasonQuotaExceeded {
		t.Fatalf("third send: %#x, want quota exceeded", code)
	}
	e.clock.Add(time.Second)
	cl.send(bob, sealed(300))
}
