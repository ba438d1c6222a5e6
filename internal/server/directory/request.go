package directory

import (
	"net/http"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
)

// readSigned decodes the outer body of a mutation. new_key_signature is
// accepted only where rotating says it may be.
func readSigned(r *http.Request, max int64, rotating bool) (*proto.SignedRequest, error) {
	var env proto.SignedRequest
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
	Head() *proto.RequestHeader
}

// decodePayload decodes the signed payload strictly (unknown fields and
// trailing data refused) and checks it names op and a valid username. It
// does not check the signature or the timestamp.
func decodePayload[T any, P payload[T]](b []byte, op string) (P, error) {
	p := P(new(T))
	if err := decodeStrict(b, p); err != nil {
		return nil, err
	}
	h := p.Head()
	if h.Op != op {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "payload op must be %q", op)
	}
	if !proto.ValidUsername(h.Username) {
		return nil, errInvalidUsername()
	}
	if h.Timestamp == 0 {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "payload timestamp is missing")
	}
	return p, nil
}

// decodeStrict decodes one JSON object refusing unknown fields and
// trailing data (proto.DecodeStrict), with errors as 400 bad_request.
func decodeStrict(b []byte, v any) error {
	if err := proto.DecodeStrict(b, v); err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "%s", err.Error())
	}
	return nil
}

// checkFresh refuses a timestamp further than MaxClockSkew from now.
func (d *Directory) checkFresh(h *proto.RequestHeader) error {
	ts := time.Unix(h.Timestamp, 0)
	if now := d.now(); ts.Before(now.Add(-proto.MaxClockSkew)) || ts.After(now.Add(proto.MaxClockSkew)) {
		return httpapi.Errorf(http.StatusUnauthorized, "stale_request",
			"request timestamp is more than %s from the server time", proto.MaxClockSkew)
	}
	return nil
}

// verifyRequest checks the request signature by key. It records nothing:
// the caller checks the rest of the request, then claims it
// (claimRequest) right before its first change, which refuses a replay.
func (d *Directory) verifyRequest(key *identity.IdentityKey, env *proto.SignedRequest) error {
	if err := key.Verify(proto.LabelRequest, env.Payload, env.Signature); err != nil {
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
