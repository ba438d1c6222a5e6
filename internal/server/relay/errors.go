package relay

import (
	"context"
	"errors"
	"net/http"

	"github.com/hush-chat/hush/internal/server/store"
)

// Errors of Submit and of the MQTT and HTTP paths. Check them with
// errors.Is.
var (
	// ErrTooLarge: the envelope is over Limits.MaxEnvelope.
	ErrTooLarge = errors.New("relay: envelope too large")
	// ErrBadEnvelope: empty, or its first byte is not 0x01 (sealed
	// envelope), 0x02 (delivery) or 0x03 (group message).
	ErrBadEnvelope = errors.New("relay: not a sealed envelope, delivery or group message")
	// ErrUnknownMailbox: no device owns the mailbox.
	ErrUnknownMailbox = errors.New("relay: unknown mailbox")
	// ErrMailboxFull: storing the envelope would exceed the mailbox's
	// count or byte limit.
	ErrMailboxFull = errors.New("relay: mailbox full")
	// ErrRateLimited: the connection or device sends faster than
	// Limits.RatePerSec allows.
	ErrRateLimited = errors.New("relay: rate limited")
	// ErrNotAuthorized: the topic is not one this device may publish to.
	ErrNotAuthorized = errors.New("relay: not authorized")
	// ErrClosed: the relay is shutting down.
	ErrClosed = errors.New("relay: closed")
)

// rejection is one refusal in every form the relay reports it: the
// stable code (HTTP error code, status notice code and metric label), the
// HTTP status and the MQTT 5 PUBACK reason code.
type rejection struct {
	code    string
	status  int
	reason  byte
	message string
}

// MQTT 5 reason codes the relay answers with (MQTT 5 §2.4).
const (
	reasonUnspecified   = 0x80
	reasonImplSpecific  = 0x83
	reasonNotAuthorized = 0x87
	reasonTopicInvalid  = 0x90
	reasonTooLarge      = 0x95
	reasonQuotaExceeded = 0x97
	reasonPayloadFormat = 0x99
)

var (
	rejTooLarge      = rejection{"envelope_too_large", http.StatusRequestEntityTooLarge, reasonTooLarge, "envelope too large"}
	rejBadEnvelope   = rejection{"bad_envelope", http.StatusBadRequest, reasonPayloadFormat, "not a sealed envelope (0x01), delivery (0x02) or group message (0x03)"}
	rejUnknown       = rejection{"unknown_mailbox", http.StatusNotFound, reasonTopicInvalid, "unknown mailbox"}
	rejFull          = rejection{"mailbox_full", http.StatusTooManyRequests, reasonQuotaExceeded, "recipient mailbox full"}
	rejRate          = rejection{"rate_limited", http.StatusTooManyRequests, reasonQuotaExceeded, "rate limit exceeded"}
	rejNotAuthorized = rejection{"not_authorized", http.StatusForbidden, reasonNotAuthorized, "not authorized for this topic"}
	rejBadAck        = rejection{"bad_ack", http.StatusBadRequest, reasonPayloadFormat, "malformed ack frame"}
	rejClosed        = rejection{"unavailable", http.StatusServiceUnavailable, reasonImplSpecific, "server shutting down"}
	rejUnavailable   = rejection{"unavailable", http.StatusServiceUnavailable, reasonImplSpecific, "the server cannot reach its storage right now; try again later"}
	rejInternal      = rejection{"internal", http.StatusInternalServerError, reasonUnspecified, "internal server error"}
)

// rejectCodes lists every code, so the rejects metric starts at zero for
// each.
var rejectCodes = []rejection{rejTooLarge, rejBadEnvelope, rejUnknown, rejFull, rejRate, rejNotAuthorized, rejBadAck, rejClosed, rejInternal}

// classify maps an error of Submit or of an ack to its rejection. Anything
// unknown is internal, and its text is not shown to the client.
func classify(err error) rejection {
	switch {
	case errors.Is(err, ErrTooLarge):
		return rejTooLarge
	case errors.Is(err, ErrBadEnvelope):
		return rejBadEnvelope
	case errors.Is(err, ErrUnknownMailbox):
		return rejUnknown
	case errors.Is(err, ErrMailboxFull):
		return rejFull
	case errors.Is(err, ErrRateLimited):
		return rejRate
	case errors.Is(err, ErrNotAuthorized):
		return rejNotAuthorized
	case errors.Is(err, ErrBadAck):
		return rejBadAck
	case errors.Is(err, ErrClosed), errors.Is(err, context.Canceled):
		return rejClosed
	case errors.Is(err, store.ErrUnavailable):
		return rejUnavailable
	}
	return rejInternal
}
