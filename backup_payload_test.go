package hush

import (
	"encoding/json"
	"errors"
	"testing"

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
