package directory

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/proto"
)

func (e *env) setDelivery(u *testUser, device uint32, delivery, broker string) (int, []byte) {
	e.t.Helper()
	return e.signed("/v1/devices/delivery", u.id, proto.SetDeliveryRequest{RequestHeader: e.header(proto.OpSetDelivery, u.name),
		DeviceID: device, Delivery: delivery, Broker: broker})
}

func deviceBroker(t *testing.T, a *proto.Answer, name string) string {
	t.Helper()
	u := mustUser(t, a, name)
	if len(u.Devices) != 1 {
		t.Fatalf("%s has %d devices", name, len(u.Devices))
	}
	return u.Devices[0].Broker
}

// A device registered in direct mode is served with its broker; a signed
// set_delivery moves it to the relay and back, and every lookup answer
// says where the device receives now.
func TestDeliveryRegisteredAndUpdated(t *testing.T) {
	e := newEnv(t)
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	e.register(alice, 0)
	req := e.registerReq(bob, 0)
	req.Delivery, req.Broker = proto.DeliveryDirect, "mqtt://broker.example:1883"
	status, body := e.signed("/v1/users", bob.id, req)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, body)
	}
	if b := deviceBroker(t, e.verify(body), "bob"); b != "mqtt://broker.example:1883" {
		t.Fatalf("registration answer broker %q", b)
	}
	if b := deviceBroker(t, e.lookupOne("alice"), "alice"); b != "" {
		t.Fatalf("alice registered without a delivery, served broker %q", b)
	}

	status, body = e.setDelivery(bob, 1, proto.DeliveryRelay, "")
	if status != http.StatusOK {
		t.Fatalf("set relay: %d %s", status, body)
	}
	if b := deviceBroker(t, e.lookupOne("bob"), "bob"); b != "" {
		t.Fatalf("after set relay: broker %q", b)
	}
	status, body = e.setDelivery(alice, 1, proto.DeliveryDirect, "mqtts://b.example:8883")
	if status != http.StatusOK {
		t.Fatalf("set direct: %d %s", status, body)
	}
	if b := deviceBroker(t, e.verify(body), "alice"); b != "mqtts://b.example:8883" {
		t.Fatalf("after set direct: broker %q", b)
	}
}

// Security: only the account's identity key moves its devices' mail
// elsewhere. A request signed by another key, or replayed, changes
// nothing.
func TestSecurityDeliveryNeedsIdentitySignature(t *testing.T) {
	e := newEnv(t)
	alice, mallory := newUser(t, "alice"), newUser(t, "mallory")
	e.register(alice, 0)
	e.register(mallory, 0)
	forged := proto.SetDeliveryRequest{RequestHeader: e.header(proto.OpSetDelivery, "alice"), DeviceID: 1,
		Delivery: proto.DeliveryDirect, Broker: "mqtt://evil.example:1883"}
	status, body := e.signed("/v1/devices/delivery", mallory.id, forged)
	wantError(t, status, body, http.StatusUnauthorized, "bad_signature")

	signed, err := proto.SignRequest(alice.id, proto.SetDeliveryRequest{RequestHeader: e.header(proto.OpSetDelivery, "alice"), DeviceID: 1,
		Delivery: proto.DeliveryDirect, Broker: "mqtt://mine.example:1883"})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := e.do("POST", "/v1/devices/delivery", signed); status != http.StatusOK {
		t.Fatalf("set: %d %s", status, body)
	}
	if status, body := e.setDelivery(alice, 1, proto.DeliveryRelay, ""); status != http.StatusOK {
		t.Fatalf("set relay: %d %s", status, body)
	}
	status, body = e.do("POST", "/v1/devices/delivery", signed)
	wantError(t, status, body, http.StatusConflict, "replayed_request")
	if b := deviceBroker(t, e.lookupOne("alice"), "alice"); b != "" {
		t.Fatalf("a replayed request moved alice's mail to %q", b)
	}
}

func TestDeliveryRefusesBadValues(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 0)
	for _, c := range []struct{ delivery, broker string }{
		{"", ""},
		{"carrier-pigeon", ""},
		{proto.DeliveryRelay, "mqtt://b.example:1883"},
		{proto.DeliveryDirect, ""},
		{proto.DeliveryDirect, "http://b.example:1883"},
		{proto.DeliveryDirect, "mqtt://user:secret@b.example:1883"},
		{proto.DeliveryDirect, "mqtt://b.example:1883/topic"},
		{proto.DeliveryDirect, "mqtt://b.example:1883?x=1"},
		{proto.DeliveryDirect, "mqtt://"},
		{proto.DeliveryDirect, "mqtt://b.example/" + string(bytes.Repeat([]byte("a"), proto.MaxBrokerURL))},
	} {
		status, body := e.setDelivery(alice, 1, c.delivery, c.broker)
		if status != http.StatusBadRequest {
			t.Errorf("delivery %q broker %q: %d %s, want 400", c.delivery, c.broker, status, body)
		}
	}
	status, body := e.setDelivery(alice, 7, proto.DeliveryRelay, "")
	wantError(t, status, body, http.StatusNotFound, "unknown_device")

	bob := newUser(t, "bob")
	req := e.registerReq(bob, 0)
	req.Delivery, req.Broker = proto.DeliveryDirect, "mqtt://u:p@b.example:1883"
	status, body = e.signed("/v1/users", bob.id, req)
	wantError(t, status, body, http.StatusBadRequest, "bad_request")
}

// An answer about relay devices carries no delivery fields, so a client
// from before delivery modes (which decodes answers strictly) still reads
// it; a client checks the broker of a direct device as the server does.
func TestDeliveryAnswerEncoding(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 0)
	status, body := e.do("GET", "/v1/users/alice", nil)
	if status != http.StatusOK {
		t.Fatal(status)
	}
	var env proto.SignedAnswer
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env.Payload, []byte(`"delivery"`)) || bytes.Contains(env.Payload, []byte(`"broker"`)) {
		t.Fatalf("relay device answer names a delivery: %s", env.Payload)
	}

	// A server that serves a broker no client would publish is caught.
	var p proto.UsersPayload
	if err := json.Unmarshal(env.Payload, &p); err != nil {
		t.Fatal(err)
	}
	p.Users[0].Devices[0].Delivery, p.Users[0].Devices[0].Broker = proto.DeliveryDirect, "mqtt://u:p@b.example:1883"
	raw, _ := json.Marshal(p)
	forged, _ := json.Marshal(proto.SignedAnswer{Payload: raw, Signature: e.dir.key.Sign(proto.LabelAnswer, raw)})
	if _, err := proto.VerifyAnswer(e.server, forged, time.Minute, e.clock.Now()); !errors.Is(err, proto.ErrMalformedAnswer) {
		t.Fatalf("VerifyAnswer of a bad broker: %v", err)
	}
}
