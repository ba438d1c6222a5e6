package hush

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 8 (item 7): a relay user and a direct-mode user sent to each
// other with success and nothing arrived. Each device's envelope now goes
// the way that device receives, in both directions, exactly once; and a
// user who switches mode is reached in the new one.
func TestDeliveryAcrossModes(t *testing.T) {
	for name, broker := range brokers(t) {
		t.Run(name, func(t *testing.T) { testDeliveryAcrossModes(t, broker) })
	}
}

func testDeliveryAcrossModes(t *testing.T, broker string) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	suffix := make([]byte, 4)
	rand.Read(suffix) // a shared Mosquitto outlives test runs
	an, bn := "relay-"+hexs(suffix), "direct-"+hexs(suffix)
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL()}, an)
	bobOpts := Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL(), BrokerURL: broker}
	bob := create(t, bobOpts, bn)

	// The directory says how each device receives.
	if c, err := alice.Contact(ctx, bn); err != nil || c.Username != bn {
		t.Fatal(c, err)
	}
	u, err := alice.lookup(ctx, bn)
	if err != nil || len(u.Devices) != 1 || u.Devices[0].Broker != broker {
		t.Fatalf("directory serves %s as %+v, %v; want broker %s", bn, u, err, broker)
	}

	// relay → direct: published to Bob's broker.
	sendOK(t, alice, bn, "to the broker")
	wantTexts(t, bob, "to the broker")
	// direct → relay: uploaded to Alice's mailbox on the relay.
	sendOK(t, bob, an, "to the relay")
	wantTexts(t, alice, "to the relay")
	// Both ways again: the sessions continue across modes.
	sendOK(t, alice, bn, "again")
	sendOK(t, bob, an, "back")
	wantTexts(t, bob, "again")
	wantTexts(t, alice, "back")

	// Bob moves to the relay (hush config set broker ''): the directory
	// learns it, and Alice's next message goes to the relay.
	if err := bob.SetConfig(ctx, "broker", ""); err != nil {
		t.Fatal(err)
	}
	if u, err := alice.lookup(ctx, bn); err != nil || u.Devices[0].Broker != "" {
		t.Fatalf("after the switch the directory serves %+v, %v", u, err)
	}
	bob.Close()
	bobOpts.BrokerURL = ""
	bob, err = Open(ctx, bobOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	sendOK(t, alice, bn, "after the switch")
	wantTexts(t, bob, "after the switch")
	sendOK(t, bob, an, "relay to relay")
	wantTexts(t, alice, "relay to relay")
}

// A device whose broker cannot be reached: the message stays queued with
// a reason naming the broker and the mode, other recipients in the same
// pass still get theirs, and once the route works it is delivered once.
func TestDeliveryUnreachableBrokerStaysQueued(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL()}, "bob")
	carol := create(t, Options{Home: filepath.Join(dir, "c"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL()}, "carol")

	const dead = "mqtt://127.0.0.1:1" // nothing listens on port 1
	if err := bob.api.SetDelivery(ctx, "bob", bob.id, 1, dead); err != nil {
		t.Fatal(err)
	}
	m, err := alice.Send(ctx, "bob", "held")
	if !errors.Is(err, ErrQueued) {
		t.Fatalf("send to an unreachable broker: %v, want ErrQueued", err)
	}
	if m.State != StateSending || !strings.Contains(m.Error, "bob's MQTT broker "+dead) || !strings.Contains(m.Error, "direct mode") {
		t.Fatalf("queued message %+v: the reason should name bob's broker and direct mode", m)
	}
	// The broker being down says nothing about the relay.
	sendOK(t, alice, "carol", "not held up")
	wantTexts(t, carol, "not held up")
	if again, err := alice.RetrySends(ctx); err != nil || len(again.Waiting) != 1 || len(again.Delivered) != 0 {
		t.Fatalf("retry while the broker is down: %+v, %v", again, err)
	}

	// Bob is back on the relay; Alice learns it at her next lookup.
	if err := bob.api.SetDelivery(ctx, "bob", bob.id, 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Contact(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	rep, err := alice.RetrySends(ctx)
	if err != nil || len(rep.Delivered) != 1 || rep.Delivered[0].Text != "held" {
		t.Fatalf("retry after the switch: %+v, %v", rep, err)
	}
	wantTexts(t, bob, "held")
}

// Switching mode updates the directory first: a broker URL the directory
// refuses, or a broker that does not answer, leaves the profile and the
// directory as they were, and what is published carries no credentials.
func TestSetConfigBrokerPublishes(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL()}, "bob")

	if err := alice.SetConfig(ctx, "broker", "http://not-mqtt.example"); err == nil {
		t.Fatal("an http:// broker was accepted")
	}
	if got := alice.Config()["broker"]; got != "" {
		t.Fatalf("refused broker kept in the profile: %q", got)
	}
	if err := alice.SetConfig(ctx, "broker", "mqtt://127.0.0.1:1"); err == nil {
		t.Fatal("a broker that does not answer was accepted")
	}
	if u, err := bob.lookup(ctx, "alice"); err != nil || u.Devices[0].Broker != "" {
		t.Fatalf("after refused switches the directory serves %+v, %v", u, err)
	}
	broker := plainBroker(t)
	withCreds := strings.Replace(broker, "mqtt://", "mqtt://user:secret@", 1)
	if err := alice.SetConfig(ctx, "broker", withCreds); err != nil {
		t.Fatal(err)
	}
	u, err := bob.lookup(ctx, "alice")
	if err != nil || u.Devices[0].Broker != broker {
		t.Fatalf("directory serves %+v, %v; want the broker without credentials", u, err)
	}
}

// Records stored before delivery modes have no route: they keep going
// through the sender's own transport, as they always did.
func TestRouteOfOldContactRecord(t *testing.T) {
	rec := &contactRecord{Devices: []contactDevice{{ID: 1, Mailbox: "m1"}, {ID: 2, Mailbox: "m2", Delivery: "direct", Broker: "mqtt://b:1"}}}
	if rt := routeOf(rec, "m1"); rt.known {
		t.Fatalf("old record routed %+v", rt)
	}
	if rt := routeOf(rec, "m2"); !rt.known || rt.broker != "mqtt://b:1" {
		t.Fatalf("direct device routed %+v", rt)
	}
	if rt := routeOf(nil, "m1"); rt.known {
		t.Fatalf("no contact routed %+v", rt)
	}
}

func sendOK(t *testing.T, c *Client, to, text string) {
	t.Helper()
	m, err := c.Send(context.Background(), to, text)
	if err != nil {
		t.Fatalf("%s → %s %q: %v", c.Username(), to, text, err)
	}
	if m.State != StateSent {
		t.Fatalf("%s → %s %q: state %v (%s)", c.Username(), to, text, m.State, m.Error)
	}
}

// wantTexts syncs c and checks that exactly texts arrived, in order, and
// that nothing more is pending.
func wantTexts(t *testing.T, c *Client, texts ...string) {
	t.Helper()
	got, err := c.Sync(context.Background())
	if err != nil {
		t.Fatalf("%s sync: %v", c.Username(), err)
	}
	var have []string
	for _, m := range got {
		have = append(have, m.Text)
	}
	if strings.Join(have, "|") != strings.Join(texts, "|") {
		t.Fatalf("%s got %q, want %q", c.Username(), have, texts)
	}
	if again, err := c.Sync(context.Background()); err != nil || len(again) != 0 {
		t.Fatalf("%s second sync: %v %v (a copy arrived twice?)", c.Username(), again, err)
	}
}

// A direct-mode device registered before the directory knew delivery
// modes is listed as a relay device; its next sync or listen tells the
// directory, and from then on relay users reach it.
func TestDeliveryOldDirectRecordHealed(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	broker := plainBroker(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL(), BrokerURL: broker}, "bob")
	if err := bob.api.SetDelivery(ctx, "bob", bob.id, 1, ""); err != nil { // as stored before delivery modes
		t.Fatal(err)
	}
	wantTexts(t, bob)
	if u, err := alice.lookup(ctx, "bob"); err != nil || u.Devices[0].Broker != broker {
		t.Fatalf("after bob's sync the directory serves %+v, %v; want broker %s", u, err, broker)
	}
	sendOK(t, alice, "bob", "found you")
	wantTexts(t, bob, "found you")
}
