package relay

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hush-chat/hush/internal/proto"
)

var transports = []struct {
	name string
	ws   bool
}{{"tcp", false}, {"websocket", true}}

func TestLiveDeliveryMQTT5(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e := newEnv(t, Limits{})
			alice, bob := e.device(t, "alice"), e.device(t, "bob")
			b := e.connect5(t, bob, tr.ws)
			if code := b.subscribe(proto.InboxTopic(bob.mailbox)); code != 1 {
				t.Fatalf("subscribe own inbox: %#x", code)
			}
			a := e.connect5(t, alice, tr.ws)
			env := sealed(1500)
			// The sender's packet properties must not reach the
			// recipient: the relay builds the delivered packet itself.
			pr, err := a.c.Publish(t.Context(), &paho.Publish{
				Topic: proto.InboxTopic(bob.mailbox), QoS: 1, Payload: env,
				Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "from", Value: "alice"}}, ContentType: "alice"},
			})
			if err != nil || pr.ReasonCode >= 0x80 {
				t.Fatalf("publish refused: %v", err)
			}
			p := b.next()
			seq, got, err := proto.DecodeDelivery(p.Payload)
			if err != nil || !bytes.Equal(got, env) || seq <= 0 {
				t.Fatalf("delivery: seq %d, %v, equal %v", seq, err, bytes.Equal(got, env))
			}
			if p.QoS != 1 || p.Retain || p.Topic != proto.InboxTopic(bob.mailbox) {
				t.Errorf("delivered packet: qos %d retain %v topic %s", p.QoS, p.Retain, p.Topic)
			}
			if p.Properties != nil && (len(p.Properties.User) > 0 || p.Properties.ContentType != "") {
				t.Errorf("security: sender's packet properties reached the recipient: %+v", p.Properties)
			}
			if n := len(e.pending(t, bob.mailbox)); n != 1 {
				t.Errorf("stored envelopes = %d, want 1 (kept until acked)", n)
			}
		})
	}
}

func TestLiveDeliveryMQTT311(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e := newEnv(t, Limits{})
			alice, bob := e.device(t, "alice"), e.device(t, "bob")
			b := e.connect3(t, bob, tr.ws)
			if code := b.subscribe(proto.InboxTopic(bob.mailbox)); code != 1 {
				t.Fatalf("subscribe own inbox: %#x", code)
			}
			a := e.connect3(t, alice, tr.ws)
			env := sealed(700)
			a.send(bob, env)
			seq, got, m := b.nextDelivery()
			if seq <= 0 || !bytes.Equal(got, env) || m.Qos() != 1 {
				t.Fatalf("delivery seq %d qos %d equal %v", seq, m.Qos(), bytes.Equal(got, env))
			}
		})
	}
}

// Both protocol versions share the broker: a 3.1.1 sender reaches an
// MQTT 5 recipient.
func TestMixedVersions(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	b := e.connect5(t, bob, false)
	b.subscribe(proto.InboxTopic(bob.mailbox))
	e.connect3(t, alice, true).send(bob, sealed(300))
	if _, env := b.nextDelivery(); env[0] != 0x01 {
		t.Fatal("wrong envelope")
	}
}

func TestOfflineDeliveryInSeqOrder(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	a := e.connect5(t, alice, false)
	const n = 250 // more than one backlog page
	var envs [][]byte
	for i := range n {
		env := sealed(300)
		env[1] = byte(i)
		envs = append(envs, env)
		a.send(bob, env)
	}
	b := e.connect5(t, bob, false)
	b.subscribe(proto.InboxTopic(bob.mailbox))
	last := int64(0)
	for i := range n {
		seq, env := b.nextDelivery()
		if seq <= last {
			t.Fatalf("delivery %d: seq %d after %d, want increasing", i, seq, last)
		}
		last = seq
		if !bytes.Equal(env, envs[i]) {
			t.Fatalf("delivery %d out of order", i)
		}
	}
}

func TestOfflineDeliveryMQTT311(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	a := e.connect3(t, alice, false)
	for range 3 {
		a.send(bob, sealed(300))
	}
	b := e.connect3(t, bob, false)
	b.subscribe(proto.InboxTopic(bob.mailbox))
	for i := range 3 {
		if seq, _, _ := b.nextDelivery(); seq <= 0 {
			t.Fatalf("delivery %d: seq %d", i, seq)
		}
	}
}

func TestAckedNotRedeliveredUnackedAre(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	a := e.connect5(t, alice, false)
	for i := range 4 {
		env := sealed(300)
		env[1] = byte(i)
		a.send(bob, env)
	}
	b := e.connect5(t, bob, false)
	b.subscribe(proto.InboxTopic(bob.mailbox))
	var seqs []int64
	for range 4 {
		seq, _ := b.nextDelivery()
		seqs = append(seqs, seq)
	}
	if code, reason := b.ack(bob.mailbox, seqs[0], seqs[2]); code >= 0x80 {
		t.Fatalf("ack refused: %#x %s", code, reason)
	}
	b.close()

	b2 := e.connect5(t, bob, false)
	b2.subscribe(proto.InboxTopic(bob.mailbox))
	for _, want := range []int64{seqs[1], seqs[3]} {
		if seq, _ := b2.nextDelivery(); seq != want {
			t.Fatalf("redelivered seq %d, want %d (acked ones must not come back)", seq, want)
		}
	}
	if got := e.pending(t, bob.mailbox); len(got) != 2 {
		t.Fatalf("%d envelopes stored, want 2", len(got))
	}
}

func TestAckOverMQTT311(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	e.connect3(t, alice, false).send(bob, sealed(300))
	b := e.connect3(t, bob, false)
	b.subscribe(proto.InboxTopic(bob.mailbox))
	seq, _, _ := b.nextDelivery()
	frame, _ := proto.EncodeAck([]int64{seq})
	tok := b.publish(proto.AckTopic(bob.mailbox), frame)
	if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("ack: %v", tok.Error())
	}
	if got := e.pending(t, bob.mailbox); len(got) != 0 {
		t.Fatalf("%d envelopes left after ack", len(got))
	}
}

// A device's messages sent while its backlog is being pushed still
// arrive (live or from the backlog), each at least once.
func TestLiveDuringBacklog(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	a := e.connect5(t, alice, false)
	want := map[string]bool{}
	for i := range 50 {
		env := sealed(200)
		copy(env[1:], fmt.Sprintf("old%03d", i))
		want[string(env)] = true
		a.send(bob, env)
	}
	b := e.connect5(t, bob, false)
	b.subscribe(proto.InboxTopic(bob.mailbox))
	for i := range 50 {
		env := sealed(200)
		copy(env[1:], fmt.Sprintf("new%03d", i))
		want[string(env)] = true
		a.send(bob, env)
	}
	for len(want) > 0 {
		_, env := b.nextDelivery()
		delete(want, string(env))
	}
}

// A device that stops acknowledging fills the broker's in-flight window;
// live deliveries past it are skipped by the broker. The relay then
// re-sends from the store once the device catches up, so nothing is
// missing without a reconnect.
func TestSlowDeviceCatchesUp(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	msgs := make(chan *paho.Publish, 2000)
	bc := paho.NewClient(paho.ClientConfig{
		Conn:                       e.dial(t, false),
		EnableManualAcknowledgment: true,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			msgs <- pr.Packet
			return true, nil
		}},
	})
	if _, err := bc.Connect(t.Context(), &paho.Connect{KeepAlive: 30, CleanStart: true,
		Username: bob.mailbox, UsernameFlag: true, Password: []byte(bob.token), PasswordFlag: true}); err != nil {
		t.Fatal(err)
	}
	defer bc.Disconnect(&paho.Disconnect{})
	if _, err := bc.Subscribe(t.Context(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: proto.InboxTopic(bob.mailbox), QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	const n = maxInflight + 40
	a := e.connect5(t, alice, false)
	for range n {
		a.send(bob, sealed(200))
	}
	seen := map[int64]bool{}
	var held []*paho.Publish
	received := 0
	for len(seen) < n {
		var p *paho.Publish
		select {
		case p = <-msgs:
		case <-time.After(waitTimeout):
			t.Fatalf("only %d of %d envelopes arrived", len(seen), n)
		}
		seq, _, err := proto.DecodeDelivery(p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		seen[seq] = true
		// Acknowledge nothing until the broker's window is full (counting
		// duplicates: they take window slots too), then everything, in
		// order as MQTT requires.
		held = append(held, p)
		if received++; received >= maxInflight {
			for _, h := range held {
				if err := bc.Ack(h); err != nil {
					t.Fatal(err)
				}
			}
			held = held[:0]
		}
	}
}

// Regression (issue 8, item 14): a device that subscribed with a backlog
// while new envelopes kept arriving got them interleaved (… 31, 32, 301,
// 302, 33 …): live deliveries overtook the backlog pass. Live deliveries
// now wait for the pass, and the device receives its mailbox in sequence
// order.
func TestBacklogAndLiveDeliveriesArriveInOrder(t *testing.T) {
	e := newEnv(t, Limits{})
	bob := e.device(t, "bob")
	const stored, live = 300, 100
	for range stored {
		if _, err := e.r.Submit(t.Context(), bob.mailbox, sealed(200)); err != nil {
			t.Fatal(err)
		}
	}
	b := e.connect5(t, bob, false)
	done := make(chan error, 1)
	go func() {
		for range live {
			if _, err := e.r.Submit(context.Background(), bob.mailbox, sealed(200)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if code := b.subscribe(proto.InboxTopic(bob.mailbox)); code != 1 {
		t.Fatalf("subscribe own inbox: %#x", code)
	}
	var last int64
	for i := range stored + live {
		p := b.next()
		seq, _, err := proto.DecodeDelivery(p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if seq <= last {
			t.Fatalf("delivery %d has sequence %d after %d", i, seq, last)
		}
		last = seq
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
