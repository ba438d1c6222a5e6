package relay

import (
	"encoding/json"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/hush-chat/hush/internal/proto"
)

// client3 is a real MQTT 3.1.1 client (paho.mqtt.golang).
type client3 struct {
	t      testing.TB
	c      mqtt3.Client
	msgs   chan mqtt3.Message
	status chan StatusNotice
	lost   chan error
}

func (e *testEnv) opts3(d device, ws bool) *mqtt3.ClientOptions {
	broker := "tcp://" + e.mqtt
	if ws {
		broker = e.wsURL
	}
	return mqtt3.NewClientOptions().AddBroker(broker).
		SetProtocolVersion(4).SetClientID("c3-" + randHex(4)).
		SetUsername(d.mailbox).SetPassword(d.token).
		SetAutoReconnect(false).SetConnectRetry(false).SetCleanSession(true).
		SetConnectTimeout(waitTimeout).SetWriteTimeout(waitTimeout).SetOrderMatters(true)
}

// tryConnect3 connects with opts and returns the CONNACK return code.
func (e *testEnv) tryConnect3(t testing.TB, opts *mqtt3.ClientOptions) (*client3, byte, error) {
	t.Helper()
	cl := &client3{t: t, msgs: make(chan mqtt3.Message, 1000), status: make(chan StatusNotice, 100), lost: make(chan error, 1)}
	opts.SetDefaultPublishHandler(func(_ mqtt3.Client, m mqtt3.Message) { cl.msgs <- m })
	opts.SetConnectionLostHandler(func(_ mqtt3.Client, err error) { cl.lost <- err })
	cl.c = mqtt3.NewClient(opts)
	tok := cl.c.Connect()
	if !tok.WaitTimeout(waitTimeout) {
		t.Fatal("connect: no CONNACK")
	}
	code := tok.(*mqtt3.ConnectToken).ReturnCode()
	if tok.Error() == nil {
		t.Cleanup(func() { cl.c.Disconnect(100) })
	}
	return cl, code, tok.Error()
}

func (e *testEnv) connect3(t testing.TB, d device, ws bool) *client3 {
	t.Helper()
	cl, _, err := e.tryConnect3(t, e.opts3(d, ws))
	if err != nil {
		t.Fatalf("connect %s: %v", d.name, err)
	}
	return cl
}

// subscribe returns the SUBACK code (0x80 is refusal in 3.1.1).
func (cl *client3) subscribe(topic string) byte {
	cl.t.Helper()
	tok := cl.c.Subscribe(topic, 1, nil)
	if !tok.WaitTimeout(waitTimeout) {
		cl.t.Fatalf("subscribe %s: no SUBACK", topic)
	}
	// The client keys results by the topic without a "$share/<group>/"
	// prefix; there is exactly one.
	for _, code := range tok.(*mqtt3.SubscribeToken).Result() {
		return code
	}
	cl.t.Fatalf("subscribe %s: no result", topic)
	return 0
}

// subscribeStatus subscribes to the device's status topic and routes its
// notices to cl.status.
func (cl *client3) subscribeStatus(d device) {
	cl.t.Helper()
	tok := cl.c.Subscribe(proto.StatusTopic(d.mailbox), 1, func(_ mqtt3.Client, m mqtt3.Message) {
		var n StatusNotice
		if err := json.Unmarshal(m.Payload(), &n); err != nil {
			cl.t.Errorf("status notice is not JSON: %v", err)
		}
		cl.status <- n
	})
	if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		cl.t.Fatalf("subscribe status: %v", tok.Error())
	}
}

func (cl *client3) publish(topic string, payload []byte) mqtt3.Token {
	return cl.c.Publish(topic, 1, false, payload)
}

// send publishes an envelope and waits for its PUBACK.
func (cl *client3) send(d device, env []byte) {
	cl.t.Helper()
	tok := cl.publish(proto.InboxTopic(d.mailbox), env)
	if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		cl.t.Fatalf("send to %s: no PUBACK (%v)", d.name, tok.Error())
	}
}

func (cl *client3) nextDelivery() (int64, []byte, mqtt3.Message) {
	cl.t.Helper()
	select {
	case m := <-cl.msgs:
		seq, env, err := proto.DecodeDelivery(m.Payload())
		if err != nil {
			cl.t.Fatalf("bad delivery frame on %s: %v", m.Topic(), err)
		}
		return seq, env, m
	case <-time.After(waitTimeout):
		cl.t.Fatal("no message from the relay")
		return 0, nil, nil
	}
}

func (cl *client3) nextStatus() StatusNotice {
	cl.t.Helper()
	select {
	case n := <-cl.status:
		return n
	case <-time.After(waitTimeout):
		cl.t.Fatal("no status notice from the relay")
		return StatusNotice{}
	}
}
