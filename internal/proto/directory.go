package proto

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/hush-chat/hush/internal/identity"
)

// Signature labels (doc/API.md). A request signature can never be presented
// as an answer signature or as any other hush signature: the identity
// package signs label || 0x00 || message.
const (
	LabelRequest = "hush/v1 directory request"
	LabelAnswer  = "hush/v1 directory answer"
)

// Operations named by the "op" field of a signed payload. Each endpoint
// accepts exactly one, so a payload signed for one operation cannot be
// replayed against another endpoint.
const (
	OpRegister       = "register"
	OpPreKeys        = "prekeys"
	OpAddDevice      = "add_device"
	OpDeleteDevice   = "delete_device"
	OpDeleteAccount  = "delete_account"
	OpRotateIdentity = "rotate_identity"
	// OpSetDelivery is the op of POST /v1/devices/delivery.
	OpSetDelivery = "set_delivery"
	// OpCreateInvite is the op of POST /v1/invites.
	OpCreateInvite = "create_invite"
	// OpSetDeviceList is the op of POST /v1/devices/list.
	OpSetDeviceList = "set_device_list"
)

// MaxClockSkew is how far a request's timestamp may be from the server
// clock: a captured request cannot be replayed later than this. It also
// bounds how far in the future an answer's server time may be.
const MaxClockSkew = 5 * time.Minute

// MaxLookup bounds the usernames of one lookup request.
const MaxLookup = 1000

// SignedRequest is the body of every mutation: a JSON payload and the
// identity key's signature over its exact bytes. NewKeySignature is used
// only by rotate_identity: the new key's signature over the same payload.
type SignedRequest struct {
	Payload         []byte `json:"payload"`
	Signature       []byte `json:"signature"`
	NewKeySignature []byte `json:"new_key_signature,omitempty"`
}

// RequestHeader holds the fields every signed payload carries.
type RequestHeader struct {
	Op        string `json:"op"`
	Username  string `json:"username"`
	Timestamp int64  `json:"timestamp"` // Unix seconds
}

// Head returns h; every request type has it through its embedded
// RequestHeader, so a decoder can reach the header of any of them.
func (h *RequestHeader) Head() *RequestHeader { return h }

// DeviceUpload is a device certificate with the device's prekeys, each in
// its doc/SPEC.md §4.1 encoding.
type DeviceUpload struct {
	DeviceCert          []byte   `json:"device_cert"`
	SignedPreKey        []byte   `json:"signed_prekey"`
	LastResortKEMPreKey []byte   `json:"last_resort_kem_prekey"`
	OneTimePreKeys      [][]byte `json:"one_time_prekeys,omitempty"`
	KEMOneTimePreKeys   [][]byte `json:"kem_one_time_prekeys,omitempty"`
	// Delivery is how the device receives: DeliveryRelay (or empty) or
	// DeliveryDirect with the Broker it listens on.
	Delivery string `json:"delivery,omitempty"`
	Broker   string `json:"broker,omitempty"`
}

// RegisterRequest creates an account (op "register"), signed by the new
// identity key.
type RegisterRequest struct {
	RequestHeader
	IdentityKey []byte `json:"identity_key"`
	DeviceUpload
	Email string `json:"email,omitempty"`
	// Invite is the invite code a server with the invite policy requires.
	Invite string `json:"invite,omitempty"`
}

// PreKeysRequest uploads prekeys for one device (op "prekeys").
type PreKeysRequest struct {
	RequestHeader
	DeviceID            uint32   `json:"device_id"`
	SignedPreKey        []byte   `json:"signed_prekey,omitempty"`
	LastResortKEMPreKey []byte   `json:"last_resort_kem_prekey,omitempty"`
	OneTimePreKeys      [][]byte `json:"one_time_prekeys,omitempty"`
	KEMOneTimePreKeys   [][]byte `json:"kem_one_time_prekeys,omitempty"`
}

// AddDeviceRequest adds a device (op "add_device"). DeviceList is the
// signed device list (doc/SPEC.md §3.6) that names the account's devices
// with this one, at a version above the published one; it is required once
// the account has published a list.
type AddDeviceRequest struct {
	RequestHeader
	DeviceUpload
	DeviceList []byte `json:"device_list,omitempty"`
}

// DeleteDeviceRequest removes a device (op "delete_device"), with the
// signed device list without it once the account publishes lists.
type DeleteDeviceRequest struct {
	RequestHeader
	DeviceID   uint32 `json:"device_id"`
	DeviceList []byte `json:"device_list,omitempty"`
}

// SetDeviceListRequest publishes a device list naming exactly the
// account's current devices (op "set_device_list"): an account's first
// list, or a repeat at a higher version.
type SetDeviceListRequest struct {
	RequestHeader
	DeviceList []byte `json:"device_list"`
}

// DeleteAccountRequest deletes the account, leaving a tombstone that keeps
// the username bound to its identity key (op "delete_account").
type DeleteAccountRequest struct {
	RequestHeader
}

// RotateRequest replaces the identity key and every device (op
// "rotate_identity"). It is signed by the current key, and by the new key
// in SignedRequest.NewKeySignature.
type RotateRequest struct {
	RequestHeader
	NewIdentityKey []byte         `json:"new_identity_key"`
	Devices        []DeviceUpload `json:"devices"`
	// Rotation is the statement signed by the current key handing over to
	// the new one (doc/SPEC.md §3.7): contacts then move to the new key
	// without a warning. DeviceList is the new key's first device list,
	// naming exactly Devices.
	Rotation   []byte `json:"rotation,omitempty"`
	DeviceList []byte `json:"device_list,omitempty"`
}

// SetDeliveryRequest changes how a device receives (op "set_delivery"):
// Delivery "relay" (Broker empty) or "direct" with the broker URL.
type SetDeliveryRequest struct {
	RequestHeader
	DeviceID uint32 `json:"device_id"`
	Delivery string `json:"delivery"`
	Broker   string `json:"broker,omitempty"`
}

// CreateInviteRequest asks for an invite code issued by the signing user
// (op "create_invite").
type CreateInviteRequest struct {
	RequestHeader
	// ExpiresIn is how long the code stays valid, in seconds: 0 for the
	// server's default, at most its maximum.
	ExpiresIn int64 `json:"expires_in,omitempty"`
}

// InviteAnswer is the answer of POST /v1/invites.
type InviteAnswer struct {
	Code      string `json:"code"`
	ExpiresAt int64  `json:"expires_at"` // Unix seconds
	Uses      int    `json:"uses"`
	// InvitesLeft is how many more invites the user may issue now.
	InvitesLeft int `json:"invites_left"`
}

// LookupRequest is the body of POST /v1/users/lookup.
type LookupRequest struct {
	Usernames []string `json:"usernames"`
}

// ServerKeyAnswer is the answer of GET /v1/server-key.
type ServerKeyAnswer struct {
	Key         []byte `json:"server_key"`
	Fingerprint string `json:"fingerprint"`
}

// PreKeyCounts is the answer of a prekeys upload and of GET
// /v1/users/{name}/devices/{id}/prekeys/count.
type PreKeyCounts struct {
	DeviceID            uint32 `json:"device_id"`
	OneTimeRemaining    int    `json:"one_time_remaining"`
	KEMOneTimeRemaining int    `json:"kem_one_time_remaining"`
}

// PreKeyStatus is the answer of GET
// /v1/users/{name}/devices/{id}/prekeys/status: the device's prekey counts
// and how its one-time prekeys went out, for the device itself.
type PreKeyStatus struct {
	PreKeyCounts
	// WindowSeconds is the hand-out window (the directory's
	// Limits.DeviceWindow); HandedOut counts the bundles with one-time
	// prekeys in the last window, of at most DeviceMax, and Requesters the
	// accounts that got them.
	WindowSeconds int64 `json:"window_seconds"`
	DeviceMax     int   `json:"device_max"`
	HandedOut     int   `json:"handed_out"`
	Requesters    int   `json:"requesters"`
	// WithheldRepeat and WithheldLimit count the bundles served without
	// one-time prekeys since the device was added: to an account that had
	// some lately, and because the device reached DeviceMax (someone
	// fetches its bundles abnormally fast). LastLimited is when the
	// latter last happened (Unix seconds, 0 for never).
	WithheldRepeat int64 `json:"withheld_repeat"`
	WithheldLimit  int64 `json:"withheld_limit"`
	LastLimited    int64 `json:"last_limited"`
}

// SignRequest encodes payload as JSON and returns the request body signed
// by key. It is the client side of every mutation but rotate_identity.
func SignRequest(key *identity.IdentityPrivateKey, payload any) ([]byte, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("directory: encoding request: %w", err)
	}
	return json.Marshal(SignedRequest{Payload: p, Signature: key.Sign(LabelRequest, p)})
}

// SignRotation returns a rotate_identity request body signed by both the
// current and the next identity key.
func SignRotation(current, next *identity.IdentityPrivateKey, payload *RotateRequest) ([]byte, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("directory: encoding request: %w", err)
	}
	return json.Marshal(SignedRequest{Payload: p,
		Signature: current.Sign(LabelRequest, p), NewKeySignature: next.Sign(LabelRequest, p)})
}

// ValidUsername reports whether name matches ^[a-z0-9][a-z0-9_-]{2,31}$.
// The first character is a letter or digit: a name starting with - would
// read as a flag on every command line that names the user.
func ValidUsername(name string) bool {
	if len(name) < 3 || len(name) > 32 || name[0] == '-' || name[0] == '_' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// How a device receives its envelopes (doc/API.md §2.2, §2.16). A sender
// delivers each device's envelope the way that device receives: a relay
// device's through the hush relay, a direct device's by publishing to the
// broker it named (doc/DIRECT.md).
const (
	DeliveryRelay  = "relay"
	DeliveryDirect = "direct"
)

// MaxBrokerURL bounds a published broker URL.
const MaxBrokerURL = 512

// ErrBadDelivery is a delivery mode or broker URL the directory refuses.
var ErrBadDelivery = errors.New("directory: bad delivery")

// CheckBroker reports whether raw may be published as a direct-mode broker:
// mqtt:// or mqtts:// with a host and nothing else. Credentials are
// refused: everything published is public, and a sender could not use
// them anyway (it publishes anonymously). A path, query or fragment has
// no meaning for MQTT and would only carry data past the check.
func CheckBroker(raw string) error {
	if raw == "" || len(raw) > MaxBrokerURL {
		return fmt.Errorf("%w: a broker URL has 1 to %d bytes", ErrBadDelivery, MaxBrokerURL)
	}
	u, err := url.Parse(raw)
	ws := err == nil && (u.Scheme == "ws" || u.Scheme == "wss")
	if err != nil || (u.Scheme != "mqtt" && u.Scheme != "mqtts" && !ws) || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: the broker must be mqtt://host:port, mqtts://host:port, ws://host[:port]/path or wss://host[:port]/path", ErrBadDelivery)
	}
	if u.User != nil {
		return fmt.Errorf("%w: a published broker URL carries no user name or password", ErrBadDelivery)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.ForceQuery {
		return fmt.Errorf("%w: a broker URL has no query or fragment", ErrBadDelivery)
	}
	if !ws && u.Path != "" && u.Path != "/" {
		return fmt.Errorf("%w: an mqtt(s) broker URL has no path", ErrBadDelivery)
	}
	// A WebSocket endpoint has a path (the broker's /mqtt, say): plain
	// printable ASCII, so what a sender dials is what a user sees.
	for _, r := range u.Path {
		if r <= ' ' || r >= 0x7f {
			return fmt.Errorf("%w: a broker URL's path is printable ASCII", ErrBadDelivery)
		}
	}
	if u.RawPath != "" {
		return fmt.Errorf("%w: a broker URL's path has no escapes", ErrBadDelivery)
	}
	return nil
}

// CheckDelivery turns a (delivery, broker) pair of a request or an answer
// into the stored form: "" for the relay, else the broker URL. An empty
// delivery is the relay, as for every record from before delivery modes.
func CheckDelivery(delivery, broker string) (string, error) {
	switch delivery {
	case "", DeliveryRelay:
		if broker != "" {
			return "", fmt.Errorf("%w: a broker belongs to delivery %q only", ErrBadDelivery, DeliveryDirect)
		}
		return "", nil
	case DeliveryDirect:
		if err := CheckBroker(broker); err != nil {
			return "", err
		}
		return broker, nil
	}
	return "", fmt.Errorf("%w: delivery must be %q or %q", ErrBadDelivery, DeliveryRelay, DeliveryDirect)
}
