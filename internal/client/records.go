package client

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/wire"
)

// Names of the profile's secrets.
const (
	secretProfile  = "profile"
	secretIdentity = "identity"
	secretDevice   = "device"
	secretCert     = "cert"
	secretKeyring  = "keyring"
	secretToken    = "relay-token"
)

// profile is the profile's settings record.
type profile struct {
	Username  string `json:"username"`
	DeviceID  uint32 `json:"device_id"`
	ServerURL string `json:"server_url"`
	BrokerURL string `json:"broker_url,omitempty"`
	MQTTURL   string `json:"mqtt_url,omitempty"` // the relay's MQTT address, if not the server's advertised one
	ServerKey []byte `json:"server_key"`         // pinned at init
}

// contactRecord is how a contact is stored (encrypted by the local store).
type contactRecord struct {
	Username       string          `json:"username"`
	IdentityKey    []byte          `json:"identity_key"`
	Verified       bool            `json:"verified,omitempty"`
	Changed        bool            `json:"changed,omitempty"`
	NewIdentityKey []byte          `json:"new_identity_key,omitempty"`
	Devices        []contactDevice `json:"devices"`
	UpdatedAt      int64           `json:"updated_at"`
}

type contactDevice struct {
	ID      uint32 `json:"id"`
	Cert    []byte `json:"cert"`
	Mailbox string `json:"mailbox"`
}

func (r *contactRecord) public() Contact {
	c := Contact{Username: r.Username, IdentityKey: r.IdentityKey, Verified: r.Verified,
		Changed: r.Changed, NewIdentityKey: r.NewIdentityKey}
	for _, d := range r.Devices {
		c.Devices = append(c.Devices, d.ID)
	}
	return c
}

// sessionRecord is a stored session with one peer device.
type sessionRecord struct {
	State []byte `json:"state"` // ratchet.State.MarshalBinary
	// PreKey is the initiator's first prekey message (header and first
	// ratchet message). Until the peer answers, every message goes out as a
	// prekey message with this header, so the peer can set the session up
	// from whichever message reaches it first.
	PreKey []byte `json:"prekey,omitempty"`
	// BaseKey is, on the responder side, the initiator's base key: later
	// prekey messages with the same base key belong to this session.
	BaseKey []byte `json:"base_key,omitempty"`
}

// messageRecord is a stored message.
type messageRecord struct {
	ID         string `json:"id"`
	Peer       string `json:"peer"`
	From       string `json:"from"`
	FromDevice uint32 `json:"from_device"`
	To         string `json:"to"`
	Text       string `json:"text"`
	SentAt     int64  `json:"sent_at"`     // Unix ms
	ReceivedAt int64  `json:"received_at"` // Unix ms
	Outgoing   bool   `json:"outgoing,omitempty"`
	State      State  `json:"state"`
}

func (r *messageRecord) public() Message {
	return Message{ID: r.ID, Peer: r.Peer, From: r.From, FromDevice: r.FromDevice, To: r.To, Text: r.Text,
		SentAt: time.UnixMilli(r.SentAt), ReceivedAt: time.UnixMilli(r.ReceivedAt), Outgoing: r.Outgoing, State: r.State}
}

func encodeJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("client: encoding a record: " + err.Error()) // only plain structs are encoded
	}
	return b
}

func decodeJSON(b []byte, v any, what string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("client: corrupt %s record: %w", what, err)
	}
	return nil
}

func messageIDString(id [16]byte) string { return hex.EncodeToString(id[:]) }

// Application messages (doc/SPEC.md §11) are the plaintext of a ratchet
// message: u8 version || u8 kind || body.
const (
	appVersion  = 0x01
	appKindText = 0x01
	// MaxText is the largest text one message carries; longer texts travel
	// as attachments (memos).
	MaxText = 64 << 10
)

func encodeText(text string) []byte {
	b := make([]byte, 0, 2+len(text))
	return append(append(b, appVersion, appKindText), text...)
}

// decodeApp parses an application message. Unknown kinds are refused, so
// a newer peer's message is reported rather than shown as garbage.
func decodeApp(b []byte) (kind uint8, body []byte, err error) {
	r := wire.NewReader("application message", b)
	r.Version(appVersion)
	kind = r.U8("kind")
	body = r.Rest()
	if err := r.Err(); err != nil {
		return 0, nil, err
	}
	if kind != appKindText {
		return 0, nil, wire.Errorf("application message", "kind", wire.ErrMalformed, "unknown kind %d", kind)
	}
	return kind, body, nil
}
