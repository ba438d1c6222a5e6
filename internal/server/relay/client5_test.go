package relay

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/wsconn"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"

	"github.com/hush-chat/hush/internal/proto"
)

// client5 is a real MQTT 5 client (paho.golang) that records what the
// relay sends it.
type client5 struct {
	t    testing.TB
	c    *paho.Client
	msgs chan *paho.Publish
	down chan *paho.Disconnect // DISCONNECT from the server
	lost chan error            // connection errors
}

// dial opens a TCP or WebSocket connection to the relay.
func (e *testEnv) dial(t testing.TB, ws bool) net.Conn {
	t.Helper()
	if !ws {
		c, err := net.Dial("tcp", e.mqtt)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: waitTimeout}
	c, _, err := d.Dial(e.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subprotocol() != "mqtt" {
		t.Fatalf("websocket subprotocol %q, want mqtt", c.Subprotocol())
	}
	return packets.NewThreadSafeConn(wsconn.New(c))
}

// tryConnect5 sends CONNECT and returns the CONNACK (nil if none came).
func (e *testEnv) tryConnect5(t testing.TB, user, pass, clientID string, ws bool, mod func(*paho.Connect)) (*client5, *paho.Connack, error) {
	t.Helper()
	cl := &client5{t: t, msgs: make(chan *paho.Publish, 1000), down: make(chan *paho.Disconnect, 1), lost: make(chan error, 10)}
	cl.c = paho.NewClient(paho.ClientConfig{
		Conn: e.dial(t, ws),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			cl.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { cl.down <- d },
		OnClientError: func(err error) {
			select {
			case cl.lost <- err:
			default:
			}
		},
	})
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
	}
	if pass != "" {
		cp.Password, cp.PasswordFlag = []byte(pass), true
	}
	if mod != nil {
		mod(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ca, err := cl.c.Connect(ctx, cp)
	if err == nil {
		t.Cleanup(func() { cl.close() })
	}
	return cl, ca, err
}

// connect5 connects d and fails the test unless the relay accepts.
func (e *testEnv) connect5(t testing.TB, d device, ws bool) *client5 {
	t.Helper()
	cl, _, err := e.tryConnect5(t, d.mailbox, d.token, "", ws, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", d.name, err)
	}
	return cl
}

func (cl *client5) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = cl.c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	select {
	case <-cl.c.Done():
	case <-ctx.Done():
	}
}

// subscribe returns the SUBACK reason code for topic.
func (cl *client5) subscribe(topic string) byte {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sa, err := cl.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}})
	if sa == nil {
		cl.t.Fatalf("subscribe %s: %v", topic, err)
	}
	return sa.Reasons[0]
}

// publish sends a QoS 1 publish and returns the PUBACK reason code and
// reason string.
func (cl *client5) publish(topic string, payload []byte) (byte, string) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	pr, err := cl.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	if pr == nil {
		cl.t.Fatalf("publish %s: %v", topic, err)
	}
	reason := ""
	if pr.Properties != nil {
		reason = pr.Properties.ReasonString
	}
	return pr.ReasonCode, reason
}

// send publishes an envelope to d's inbox and fails unless it is accepted.
func (cl *client5) send(d device, env []byte) {
	cl.t.Helper()
	if code, reason := cl.publish(proto.InboxTopic(d.mailbox), env); code >= 0x80 {
		cl.t.Fatalf("send to %s refused: %#x %s", d.name, code, reason)
	}
}

// next waits for the next publish from the relay.
func (cl *client5) next() *paho.Publish {
	cl.t.Helper()
	select {
	case p := <-cl.msgs:
		return p
	case <-time.After(waitTimeout):
		cl.t.Fatal("no message from the relay")
		return nil
	}
}

// nextDelivery waits for the next delivery frame.
func (cl *client5) nextDelivery() (int64, []byte) {
	cl.t.Helper()
	p := cl.next()
	seq, env, err := proto.DecodeDelivery(p.Payload)
	if err != nil {
		cl.t.Fatalf("bad delivery frame on %s: %v", p.Topic, err)
	}
	return seq, env
}

// ack acknowledges seqs over MQTT.
func (cl *client5) ack(mailbox string, seqs ...int64) (byte, string) {
	cl.t.Helper()
	frame, err := proto.EncodeAck(seqs)
	if err != nil {
		cl.t.Fatal(err)
	}
	return cl.publish(proto.AckTopic(mailbox), frame)
}

// rawSubscribe sends SUBSCRIBE for filter from a hand-driven MQTT 5
// connection (paho refuses wildcards client-side once the relay says it
// does not support them; an attacker's client would not) and returns the
// SUBACK reason code.
func (e *testEnv) rawSubscribe(t testing.TB, d device, filter string) byte {
	t.Helper()
	c := e.dial(t, false)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	cp := packets.NewControlPacket(packets.CONNECT)
	cc := cp.Content.(*packets.Connect)
	cc.ProtocolName, cc.ProtocolVersion, cc.CleanStart, cc.KeepAlive = "MQTT", 5, true, 30
	cc.Username, cc.UsernameFlag, cc.Password, cc.PasswordFlag = d.mailbox, true, []byte(d.token), true
	if _, err := cp.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	ack, err := packets.ReadPacket(c)
	if err != nil || ack.Type != packets.CONNACK || ack.Content.(*packets.Connack).ReasonCode != 0 {
		t.Fatalf("raw connect: %v %v", ack, err)
	}
	sp := packets.NewControlPacket(packets.SUBSCRIBE)
	sc := sp.Content.(*packets.Subscribe)
	sc.PacketID = 1
	sc.Subscriptions = []packets.SubOptions{{Topic: filter, QoS: 1}}
	if _, err := sp.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := packets.ReadPacket(c)
		if err != nil {
			t.Fatalf("raw subscribe %q: %v", filter, err)
		}
		if p.Type == packets.SUBACK {
			return p.Content.(*packets.Suback).Reasons[0]
		}
		if p.Type == packets.PUBLISH {
			t.Fatalf("security: relay sent a message on %q to an unauthorized subscriber", p.Content.(*packets.Publish).Topic)
		}
	}
}
