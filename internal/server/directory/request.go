package directory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/server/httpapi"
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
)

// MaxClockSkew is how far a request's timestamp may be from the server
// clock: a captured request cannot be replayed later than this.
const MaxClockSkew = 5 * time.Minute

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

func (h *RequestHeader) head() *RequestHeader { return h }

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

// AddDeviceRequest adds a device (op "add_device").
type AddDeviceRequest struct {
	RequestHeader
	DeviceUpload
}

// DeleteDeviceRequest removes a device (op "delete_device").
type DeleteDeviceRequest struct {
	RequestHeader
	DeviceID uint32 `json:"device_id"`
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

// readSigned decodes the outer body of a mutation. new_key_signature is
// accepted only where rotating says it may be.
func readSigned(r *http.Request, max int64, rotating bool) (*SignedRequest, error) {
	var env SignedRequest
	if err := httpapi.DecodeJSON(r, max, &env); err != nil {
		return nil, err
	}
	if !rotating && env.NewKeySignature != nil {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "new_key_signature belongs to rotate_identity only")
	}
	if len(env.Payload) == 0 {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "payload is missing")
	}
	if len(env.Signature) != identity.SignatureSize {
		return nil, errBadSignature("signature must be %d bytes", identity.SignatureSize)
	}
	return &env, nil
}

// payload is implemented by every request type through RequestHeader.
type payload[T any] interface {
	*T
	head() *RequestHeader
}

// decodePayload decodes the signed payload strictly (unknown fields and
// trailing data refused) and checks it names op and a valid username. It
// does not check the signature or the timestamp.
func decodePayload[T any, P payload[T]](b []byte, op string) (P, error) {
	p := P(new(T))
	if err := decodeStrict(b, p); err != nil {
		return nil, err
	}
	h := p.head()
	if h.Op != op {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "payload op must be %q", op)
	}
	if !ValidUsername(h.Username) {
		return nil, errInvalidUsername()
	}
	if h.Timestamp == 0 {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "payload timestamp is missing")
	}
	return p, nil
}

// decodeStrict decodes one JSON object refusing unknown fields and
// trailing data, with errors as 400 bad_request.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "invalid payload: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "trailing data after the payload")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end"
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + field
	}
	return "malformed"
}

// checkFresh refuses a timestamp further than MaxClockSkew from now.
func (d *Directory) checkFresh(h *RequestHeader) error {
	ts := time.Unix(h.Timestamp, 0)
	if now := d.now(); ts.Before(now.Add(-MaxClockSkew)) || ts.After(now.Add(MaxClockSkew)) {
		return httpapi.Errorf(http.StatusUnauthorized, "stale_request",
			"request timestamp is more than %s from the server time", MaxClockSkew)
	}
	return nil
}

// verifyRequest checks the request signature by key. It records nothing:
// the caller checks the rest of the request, then claims it
// (claimRequest) right before its first change, which refuses a replay.
func (d *Directory) verifyRequest(key *identity.IdentityKey, env *SignedRequest) error {
	if err := key.Verify(LabelRequest, env.Payload, env.Signature); err != nil {
		return errBadSignature("request signature does not verify with the identity key")
	}
	return nil
}

func errBadSignature(format string, args ...any) error {
	return httpapi.Errorf(http.StatusUnauthorized, "bad_signature", format, args...)
}

func errInvalidUsername() error {
	return httpapi.Errorf(http.StatusBadRequest, "invalid_username",
		"usernames are 3 to 32 characters from a-z, 0-9, _ and -, starting with a letter or digit")
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
