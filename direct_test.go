package hush

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hush-chat/hush/internal/proto"
)

// plainBroker starts an MQTT broker with no hush logic at all (any client,
// any topic): what direct mode must work with. It stands in for Mosquitto
// when HUSH_TEST_MQTT does not name one.
func plainBroker(t *testing.T) string {
	t.Helper()
	_, url := plainBrokerServer(t)
	return url
}

// plainBrokerServer is plainBroker with the broker itself, for tests that
// must see what the broker knows of its clients.
func plainBrokerServer(t *testing.T) (*mqtt.Server, string) {
	t.Helper()
	return startPlainBroker(t, func(addr string) listeners.Listener {
		return listeners.NewTCP(listeners.Config{ID: "t", Address: addr})
	}, "mqtt://%s")
}

// startPlainBroker starts a broker that lets anyone do anything, on the
// listener listen makes for a free loopback address; url formats its URL.
func startPlainBroker(t *testing.T, listen func(addr string) listeners.Listener, url string) (*mqtt.Server, string) {
	t.Helper()
	b := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := b.AddHook(new(allowAll), nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := b.AddListener(listen(addr)); err != nil {
		t.Fatal(err)
	}
	go b.Serve()
	t.Cleanup(func() { b.Close() })
	// The WebSocket listener starts listening in Serve's goroutine (a TCP
	// one listens at AddListener, and a probe would only hand the broker a
	// connection to tear down).
	for i := 0; strings.HasPrefix(url, "ws"); i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 1000 {
			t.Fatalf("broker listener never came up: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return b, fmt.Sprintf(url, addr)
}

// allowAll lets every client connect and use every topic, like a broker
// with no access control.
type allowAll struct{ mqtt.HookBase }

func (allowAll) ID() string { return "allow-all" }
func (allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (allowAll) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }

// brokers returns the brokers to test direct mode against: always a plain
// in-process one, and the machine's Mosquitto when HUSH_TEST_MQTT names it.
func brokers(t *testing.T) map[string]string {
	m := map[string]string{"plain": plainBroker(t)}
	if u := os.Getenv("HUSH_TEST_MQTT"); u != "" {
		m["mosquitto"] = u
	}
	return m
}

func TestDirectModeOverPlainBroker(t *testing.T) {
	for name, broker := range brokers(t) {
		t.Run(name, func(t *testing.T) { testDirectMode(t, broker) })
	}
}

func testDirectMode(t *testing.T, broker string) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	// Unique names: a shared Mosquitto outlives test runs.
	suffix := make([]byte, 4)
	rand.Read(suffix)
	an, bn := "alice-"+hexs(suffix), "bob-"+hexs(suffix)
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL(), BrokerURL: broker}, an)
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL(), BrokerURL: broker}, bn)

	// Anyone may publish to a topic on a plain broker: garbage arrives in
	// Bob's inbox before, between and after real messages.
	inbox := proto.InboxTopic(bob.Mailbox())
	publishRaw(t, broker, inbox, []byte("not an envelope"))
	for _, text := range []string{"one", "two", "three"} {
		if _, err := alice.Send(ctx, bn, text); err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 1500)
		rand.Read(junk)
		junk[0] = 0x01 // looks like a sealed envelope
		publishRaw(t, broker, inbox, junk)
	}
	// Each piece of garbage is refused and reported; the messages arrive.
	got, err := bob.Sync(ctx)
	var re *RefusedError
	if !errors.As(err, &re) || len(re.Reasons) != 4 || re.Err != nil {
		t.Fatalf("sync: %v, want 4 refused envelopes and no other error", err)
	}
	var texts []string
	for _, m := range got {
		texts = append(texts, m.Text)
	}
	if len(texts) != 3 || texts[0] != "one" || texts[1] != "two" || texts[2] != "three" {
		t.Fatalf("bob got %q, want one two three in order", texts)
	}
	// Everything was acknowledged: the garbage and the messages are gone.
	if again, err := bob.Sync(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second sync: %v %v", again, err)
	}

	// Live: Bob listens, Alice sends.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan Event, 16)
	go bob.Listen(lctx, func(e Event) { events <- e })
	// Listen subscribes asynchronously; its persistent session queues
	// what arrives meanwhile, so sending at once is fine.
	if _, err := alice.Send(ctx, bn, "live"); err != nil {
		t.Fatal(err)
	}
	publishRaw(t, broker, inbox, []byte{0x02, 0xff})
	for {
		select {
		case e := <-events:
			if e.Message != nil {
				if e.Message.Text != "live" || e.Message.From != an {
					t.Fatalf("live message %+v", e.Message)
				}
				return
			}
			var dr *dropped
			if !errors.As(e.Err, &dr) {
				t.Fatalf("unexpected event %v", e.Err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no live message")
		}
	}
}

func publishRaw(t *testing.T, broker, topic string, payload []byte) {
	t.Helper()
	cl, err := dialMQTT(context.Background(), broker, mqttLogin{clientID: "garbage-" + hexs(payload[:1]), clean: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(&paho.Disconnect{})
	if _, err := cl.Publish(context.Background(), &paho.Publish{Topic: topic, QoS: 1, Payload: payload}); err != nil {
		t.Fatal(err)
	}
}

// drain ends only after the broker has been quiet while nothing was being
// processed: a slow message (a first contact's directory lookup on a busy
// machine) once let the quiet timer run out mid-processing, and Sync
// returned with the rest of the queue unread and that message unacknowledged.
func TestDirectDrainWaitsForSlowProcessing(t *testing.T) {
	ctx := context.Background()
	srv, broker := plainBrokerServer(t)
	tr := &directTransport{broker: broker, mailbox: "drain-" + hexs([]byte{1, 2, 3, 4})}
	cl, _, err := tr.session(ctx, func([]byte) error { return errors.New("not yet") }, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl.Disconnect(&paho.Disconnect{})
	// The broker handles the DISCONNECT on its own time: a message
	// published before it has would go to the refusing handler above.
	for {
		if c, ok := srv.Clients.Get("hush-" + tr.mailbox); ok && c.Closed() {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := []string{"first", "second", "third"}
	for _, p := range want {
		publishRaw(t, broker, proto.InboxTopic(tr.mailbox), []byte(p))
	}
	var got []string
	err = tr.drain(ctx, func(env []byte) error {
		if len(got) == 0 {
			<-time.After(3 * directQuiet) // slow work, longer than the quiet period
		}
		got = append(got, string(env))
		return nil
	})
	// A plain broker may resend a resumed session's queue in any order
	// (Sync puts each sender's messages back in order): every one is read.
	slices.Sort(got)
	slices.Sort(want)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("drain read %q (%v), want %q", got, err, want)
	}
	// QoS 1 is at least once: a broker may send again what was
	// acknowledged as the session closed (paho sends acknowledgements
	// from a timer), and the client's dedupe keeps it from being shown
	// twice. What comes again is only ever one of the three.
	got = nil
	if err := tr.drain(ctx, func(env []byte) error { got = append(got, string(env)); return nil }); err != nil {
		t.Fatalf("second drain: %v", err)
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Fatalf("second drain read %q, which was never sent", g)
		}
	}
}

// Direct mode works over MQTT over WebSocket too: the directory publishes
// a ws:// broker URL with its path, and senders dial it.
func TestDirectModeOverWebSocket(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	_, broker := startPlainBroker(t, func(addr string) listeners.Listener {
		return listeners.NewWebsocket(listeners.Config{ID: "ws", Address: addr})
	}, "ws://%s/mqtt")

	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL(), BrokerURL: broker}, "bob")

	for _, text := range []string{"over", "websocket"} {
		if _, err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
	}
	got, err := bob.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Text != "over" || got[1].Text != "websocket" {
		t.Fatalf("bob got %v, want over, websocket", got)
	}
}

// Publishes from several goroutines over a WebSocket reach the broker as
// whole packets: paho writes each packet in pieces, and without a lock
// around the packet one publish could land inside another.
func TestConcurrentPublishesOverWebSocketStayWhole(t *testing.T) {
	ctx := context.Background()
	b, wsURL := startPlainBroker(t, func(addr string) listeners.Listener {
		return listeners.NewWebsocket(listeners.Config{ID: "ws", Address: addr})
	}, "ws://%s/mqtt")
	tcp := listenTCP(t, b)

	const writers, each = 8, 40
	got := make(chan []byte, writers*each)
	sub, err := dialMQTT(ctx, tcp, mqttLogin{clientID: "sub", clean: true}, func(pr paho.PublishReceived) (bool, error) {
		got <- pr.Packet.Payload
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Disconnect(&paho.Disconnect{})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "t", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pub, err := dialMQTT(ctx, wsURL, mqttLogin{clientID: "pub", clean: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Disconnect(&paho.Disconnect{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := bytes.Repeat([]byte{byte(w)}, 3000+i)
				if _, err := pub.Publish(ctx, &paho.Publish{Topic: "t", QoS: 1, Payload: p}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for range writers * each {
		select {
		case p := <-got:
			if len(p) < 3000 || !bytes.Equal(p, bytes.Repeat(p[:1], len(p))) {
				t.Fatalf("a payload arrived mixed with another packet (%d bytes)", len(p))
			}
		case <-time.After(30 * time.Second):
			t.Fatal("not every publish arrived")
		}
	}
}

// listenTCP adds a plain TCP listener to broker b and returns its URL.
func listenTCP(t *testing.T, b *mqtt.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	l := listeners.NewTCP(listeners.Config{ID: "tcp-extra", Address: addr})
	if err := b.AddListener(l); err != nil {
		t.Fatal(err)
	}
	go l.Serve(b.EstablishConnection)
	return "mqtt://" + addr
}

// slowAcks makes the broker take its time over each PUBACK it reads, as a
// busy broker does: a client that disconnects and comes back at once
// finds its session taken over with those messages still in flight.
type slowAcks struct{ mqtt.HookBase }

func (slowAcks) ID() string           { return "slow-acks" }
func (slowAcks) Provides(b byte) bool { return b == mqtt.OnPacketRead }
func (slowAcks) OnPacketRead(_ *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Puback {
		time.Sleep(directQuiet / 2) // five of them outlast the quiet period
	}
	return pk, nil
}

// A drain ends only once the broker has taken its acknowledgements: the
// next drain, right after, reads nothing again (a refused envelope would
// otherwise be reported twice).
func TestDirectDrainEndsAfterTheBrokerTookItsAcknowledgements(t *testing.T) {
	ctx := context.Background()
	srv, broker := plainBrokerServer(t)
	if err := srv.AddHook(new(slowAcks), nil); err != nil {
		t.Fatal(err)
	}
	tr := &directTransport{broker: broker, mailbox: "settle-" + hexs([]byte{5, 6, 7, 8})}
	cl, _, err := tr.session(ctx, func([]byte) error { return errors.New("not yet") }, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl.Disconnect(&paho.Disconnect{})
	for {
		if c, ok := srv.Clients.Get("hush-" + tr.mailbox); ok && c.Closed() {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := []string{"one", "two", "three", "four", "five"}
	for _, p := range want {
		publishRaw(t, broker, proto.InboxTopic(tr.mailbox), []byte(p))
	}
	var got []string
	if err := tr.drain(ctx, func(env []byte) error { got = append(got, string(env)); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("drain read %q, want %q", got, want)
	}
	got = nil
	if err := tr.drain(ctx, func(env []byte) error { got = append(got, string(env)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("second drain read %q again: the first ended before the broker took its acknowledgements", got)
	}
}
