package hush

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/testkit"
)

// backupPayloadVector is the known-answer vector of SPEC §16.8: a fixed
// payload and its exact encoding.
type backupPayloadVector struct {
	Comment string          `json:"comment"`
	Payload string          `json:"payload"` // the encoding, as text
	Decoded json.RawMessage `json:"decoded"` // the same, indented, for reading
}

func vectorPayload() *backupPayload {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	contact := encodeJSON(contactRecord{Username: "bob", IdentityKey: make([]byte, 32), Verified: true,
		Devices: []contactDevice{{ID: 1, Cert: []byte{1, 2, 3}, Mailbox: "mb1", Delivery: "relay"}}, UpdatedAt: 1_700_000_000})
	msg := encodeJSON(messageRecord{ID: "000102030405060708090a0b0c0d0e0f", Peer: "bob", From: "bob", FromDevice: 1, To: "alice",
		Text: "hi", SentAt: 1_700_000_000_000, ReceivedAt: 1_700_000_000_500, State: StateReceived})
	return &backupPayload{Version: 1, Username: "alice", IdentitySeed: seed, ServerURL: "https://hush.example.org",
		ServerKey: make([]byte, 32), MQTTURL: "mqtts://hush.example.org:8883", Created: 1_700_000_000,
		Contacts: []json.RawMessage{contact},
		Groups:   []*groupRecord{{ID: []byte{9, 9}, Name: "team", Base: []byte{1}, Ring: []byte{2}}},
		History:  []backupConversation{{Name: "bob", Messages: []json.RawMessage{msg}}}}
}

func TestBackupPayloadVector(t *testing.T) {
	raw := encodeJSON(vectorPayload())
	var indented json.RawMessage
	if err := json.Unmarshal(raw, &indented); err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, "testdata/backup_payload.json", backupPayloadVector{
		Comment: "doc/SPEC.md §16.8: a backup payload (JSON, version 1) and its exact encoding",
		Payload: string(raw), Decoded: indented})
	p, err := decodeBackupPayload(raw, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if string(encodeJSON(p)) != string(raw) {
		t.Fatal("the payload does not re-encode to the same bytes")
	}
	if _, _, err := messageKey(p.History[0].Messages[0]); err != nil {
		t.Fatalf("the history message is not fileable: %v", err)
	}
}

func TestBackupPayloadRefused(t *testing.T) {
	raw := encodeJSON(vectorPayload())
	if _, err := decodeBackupPayload(raw, "mallory"); !errors.Is(err, ErrBackupDamaged) {
		t.Fatalf("payload of another account: %v", err)
	}
	p := vectorPayload()
	p.Version = 2
	if _, err := decodeBackupPayload(encodeJSON(p), "alice"); err == nil {
		t.Fatal("a newer payload version was accepted")
	}
	if _, err := decodeBackupPayload([]byte("{"), "alice"); !errors.Is(err, ErrBackupDamaged) {
		t.Fatalf("broken JSON: %v", err)
	}
}

// Security regression: a backup never carries a device's group sending
// chain or queued sends: a restored device reusing the chain would
// encrypt under message keys already used.
func TestBackupGroupsDropSendingChain(t *testing.T) {
	in := []*groupRecord{{ID: []byte{1}, Name: "team", Sender: []byte("chain"), Given: []string{"bob"},
		Send: []controlToSend{{To: "bob"}}, Rebased: []rebasedChange{{}}, Ring: []byte("ring")}}
	out := backupGroups(in)
	if g := out[0]; g.Sender != nil || g.Given != nil || g.Send != nil || g.Rebased != nil || string(g.Ring) != "ring" {
		t.Fatalf("backed-up group %+v", g)
	}
	if in[0].Sender == nil {
		t.Fatal("backupGroups changed the profile's record")
	}
}

// The restored device's list extends exactly the served list's devices
// (a served device the list does not name stays out), with the next
// unused id; an account without a list gets version 1 of the served
// devices and the new one.
func TestNextDeviceList(t *testing.T) {
	id, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	certOf := func(n uint32) *identity.DeviceCert {
		d, err := identity.GenerateDevice(n)
		if err != nil {
			t.Fatal(err)
		}
		return identity.Certify(id, d, 1)
	}
	c1, c2, c5 := certOf(1), certOf(2), certOf(5)
	served := []proto.Device{{ID: 1, Cert: c1}, {ID: 2, Cert: c2}, {ID: 5, Cert: c5}}
	l, _ := identity.NewDeviceList("alice", 7, 1, c1, c2)
	raw, _ := l.Sign(id)
	listed, err := identity.ParseDeviceList(raw, id.Public())
	if err != nil {
		t.Fatal(err)
	}
	next, base := nextDeviceList(&proto.User{Username: "alice", IdentityKey: id.Public(), Devices: served, DeviceList: listed})
	if next != 6 || base.Version != 7 || len(base.Devices) != 2 || base.Has(5) {
		t.Fatalf("with a list: device %d on %+v; want 6 on the list's devices 1 and 2 at version 7", next, base)
	}
	next, base = nextDeviceList(&proto.User{Username: "alice", IdentityKey: id.Public(), Devices: []proto.Device{served[2], served[0]}})
	if next != 6 || base.Version != 0 || len(base.Devices) != 2 || base.Devices[0].ID != 1 || base.Devices[1].ID != 5 {
		t.Fatalf("without a list: device %d on %+v; want 6 on the served devices 1 and 5", next, base)
	}
}
