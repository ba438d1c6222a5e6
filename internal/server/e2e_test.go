package server

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/session"
	"github.com/hush-chat/hush/internal/testkit"
)

// user is a test client with real keys.
type user struct {
	name string
	id   *identity.IdentityPrivateKey
	dev  *identity.DevicePrivateKey
	cert *identity.DeviceCert
	ring *pqxdh.Keyring
}

func newUser(t testing.TB, name string) *user {
	t.Helper()
	id, _ := identity.GenerateIdentity()
	dev, _ := identity.GenerateDevice(1)
	ring, err := pqxdh.NewKeyring(id, 1, time.Now().Unix())
	if err != nil {
		t.Fatal(err)
	}
	return &user{name: name, id: id, dev: dev, cert: identity.Certify(id, dev, time.Now().Unix()), ring: ring}
}

func (u *user) register(t testing.TB, c *apiclient.Client, oneTime int) {
	t.Helper()
	otp, err := u.ring.GenerateOneTime(oneTime)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Register(context.Background(), apiclient.Registration{Username: u.name, Identity: u.id,
		Cert: u.cert, Keyring: u.ring, OneTime: otp})
	if err != nil {
		t.Fatalf("register %s: %v", u.name, err)
	}
}

func (u *user) addr() envelope.Address { return envelope.Address{User: u.name, Device: u.dev.ID()} }

// startServer runs a server in process on loopback port 0.
func startServer(t testing.TB, dataDir string) *Server {
	t.Helper()
	cfg := Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0", dataDir, "127.0.0.1:0"
	s, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func TestEndToEndFirstMessageOverRelay(t *testing.T) {
	testFirstMessage(t, startServer(t, t.TempDir()))
}

// TestEndToEndOnPostgres runs the same exchange on a server whose store is
// the machine's PostgreSQL (`hush server --db postgres://…`).
func TestEndToEndOnPostgres(t *testing.T) {
	db := testkit.PostgresURL(t)
	if db == "" {
		t.Skip("HUSH_TEST_POSTGRES not set")
	}
	cfg := Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir, cfg.DB = "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), db
	s, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	testFirstMessage(t, s)
}

func testFirstMessage(t *testing.T, s *Server) {
	ctx := context.Background()
	c := apiclient.New(s.HTTPURL(), nil)
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	alice.register(t, c, 5)
	bob.register(t, c, 5)

	// The pinned server key is the one the server prints.
	sk, err := c.ServerKey(ctx)
	if err != nil || identity.Fingerprint(sk) != s.Fingerprint() {
		t.Fatalf("server key %v", err)
	}
	ans, err := c.Lookup(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	bu, err := ans.User("bob")
	if err != nil || len(bu.Devices) != 1 {
		t.Fatalf("lookup bob: %+v %v", bu, err)
	}
	// Bundles go to logged-in accounts only.
	as, err := c.Login(ctx, "alice", alice.dev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Bundle(ctx, "", "bob", 1); !apiclient.IsCode(err, "unauthorized") {
		t.Fatalf("bundle without a login: %v", err)
	}
	ba, err := c.Bundle(ctx, as.Token, "bob", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !ba.Bundle.Device.Identity.Equal(bob.id.Public()) || ba.Bundle.OneTime == nil {
		t.Fatal("bundle is not bob's, or carries no one-time prekey")
	}
	mailbox := identity.MailboxID(ba.Bundle.Device.Identity, 1)

	// Bob is online over MQTT 5 before Alice sends.
	bs, err := c.Login(ctx, "bob", bob.dev)
	if err != nil || bs.Mailbox != mailbox {
		t.Fatalf("bob login: %v (mailbox %q, want %q)", err, bs.Mailbox, mailbox)
	}
	got := make(chan []byte, 4)
	mq := connectMQTT(t, s.MQTTURL(), bs, got)
	if _, err := mq.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: proto.InboxTopic(mailbox), QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	_, pm, err := session.Start(alice.dev, alice.cert, ba.Bundle, []byte("attack at dawn"))
	if err != nil {
		t.Fatal(err)
	}
	var id [16]byte
	rand.Read(id[:])
	env, err := envelope.Seal(ba.Bundle.Device.Envelope, &envelope.Content{Sender: alice.addr(), Recipient: bob.addr(),
		MessageID: id, Timestamp: time.Now().UnixMilli(), Type: 2, Payload: pm})
	if err != nil {
		t.Fatal(err)
	}
	seq, err := c.Send(ctx, as.Token, mailbox, env)
	if err != nil || seq <= 0 {
		t.Fatalf("send: %d %v", seq, err)
	}

	var frame []byte
	select {
	case frame = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no live delivery")
	}
	dseq, denv, err := proto.DecodeDelivery(frame)
	if err != nil || dseq != seq {
		t.Fatalf("delivery seq %d, sent %d: %v", dseq, seq, err)
	}
	content, err := envelope.Open(bob.dev.EnvelopeKey(), bob.addr(), denv)
	if err != nil || content.Sender != alice.addr() || content.MessageID != id {
		t.Fatalf("open: %+v %v", content, err)
	}
	acc, err := session.Accept(bob.dev, bob.cert, bob.ring, content.Payload)
	if err != nil || string(acc.Plaintext) != "attack at dawn" || !acc.Initiator.Identity.Equal(alice.id.Public()) {
		t.Fatalf("accept: %v", err)
	}

	// Delivered is not acknowledged: it stays until Bob acks it.
	pending, err := c.Fetch(ctx, bs.Token, 0, 10)
	if err != nil || len(pending) != 1 || pending[0].Seq != seq {
		t.Fatalf("pending before ack: %+v %v", pending, err)
	}
	if n, err := c.Ack(ctx, bs.Token, []int64{seq}); err != nil || n != 1 {
		t.Fatalf("ack: %d %v", n, err)
	}
	if pending, _ := c.Fetch(ctx, bs.Token, 0, 10); len(pending) != 0 {
		t.Fatalf("acked envelope still pending: %+v", pending)
	}
	// The one-time prekey Alice used is gone from the directory (and
	// another account's fetch takes the next).
	if ba2, err := c.Bundle(ctx, bs.Token, "bob", 1); err != nil || ba2.OneTimeRemaining != 3 {
		t.Fatalf("one-time keys left: %+v %v", ba2, err)
	}
}

func connectMQTT(t testing.TB, mqttURL string, s *apiclient.Session, got chan<- []byte) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(mqttURL, "mqtt://"))
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			got <- pr.Packet.Payload
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: s.Mailbox, KeepAlive: 30, CleanStart: true,
		Username: s.Mailbox, UsernameFlag: true, Password: []byte(s.Token), PasswordFlag: true})
	if err != nil || ca.ReasonCode != 0 {
		t.Fatalf("mqtt connect: %v %+v", err, ca)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c
}

func TestHealthzAndMetrics(t *testing.T) {
	s := startServer(t, t.TempDir())
	// /healthz first, so its requests are counted when /metrics is read.
	for _, c := range [][2]string{{s.HTTPURL() + "/healthz", `"status":"ok"`}, {s.MetricsURL(), `hush_http_requests_total{code="200",route="/healthz"} 2`}} {
		url, want := c[0], c[1]
		var body string
		for range 2 {
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", url, resp.StatusCode)
			}
		}
		if !strings.Contains(body, want) {
			t.Errorf("%s does not contain %q", url, want)
		}
	}
}
