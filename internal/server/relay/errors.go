package relay

import (
	"context"
	"errors"
	"net/http"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/store"
)

// Errors of Submit and of the MQTT and HTTP paths. Check them with
// errors.Is.
var (
	// ErrTooLarge: the envelope is over Limits.MaxEnvelope.
	ErrTooLarge = errors.New("relay: envelope too large")
	// ErrBadEnvelope: empty, or its first byte is not 0x01 (sealed
	// envelope), 0x02 (delivery), 0x03 (group message) or 0x05 (tagged
	// envelope).
	ErrBadEnvelope = errors.New("relay: not a sealed envelope, delivery, group message or tagged envelope")
	// ErrUnknownMailbox: no device owns the mailbox.
	ErrUnknownMailbox = errors.New("relay: unknown mailbox")
	// ErrMailboxFull: storing the envelope would exceed the mailbox's
	// count or byte limit.
	ErrMailboxFull = errors.New("relay: mailbox full")
	// ErrShareFull: storing the envelope would exceed the sender
	// account's share of the mailbox (Limits.SenderShare).
	ErrShareFull = errors.New("relay: sender's share of the mailbox full")
	// ErrAccountFull: storing the envelope would exceed what the sender
	// account may hold pending across all mailboxes
	// (Limits.AccountMaxCount, AccountMaxBytes).
	ErrAccountFull = errors.New("relay: sender's storage budget used up")
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
	rejTooLarge      = rejection{proto.CodeEnvelopeTooLarge, http.StatusRequestEntityTooLarge, reasonTooLarge, "envelope too large"}
	rejBadEnvelope   = rejection{proto.CodeBadEnvelope, http.StatusBadRequest, reasonPayloadFormat, "not a sealed envelope (0x01), delivery (0x02), group message (0x03) or tagged envelope (0x05)"}
	rejUnknown       = rejection{proto.CodeUnknownMailbox, http.StatusNotFound, reasonTopicInvalid, "unknown mailbox"}
	rejFull          = rejection{proto.CodeMailboxFull, http.StatusTooManyRequests, reasonQuotaExceeded, "recipient mailbox full"}
	rejShareFull     = rejection{proto.CodeMailboxShareFull, http.StatusTooManyRequests, reasonQuotaExceeded, "the recipient's mailbox holds as much from this account as it may until the recipient catches up"}
	rejAccountFull   = rejection{proto.CodeAccountStorageFull, http.StatusTooManyRequests, reasonQuotaExceeded, "this account's undelivered envelopes fill its storage budget until recipients catch up"}
	rejTooMany       = rejection{proto.CodeTooManyRecipients, http.StatusRequestEntityTooLarge, reasonQuotaExceeded, "more recipients than one fan-out may have"}
	rejRate          = rejection{proto.CodeRateLimited, http.StatusTooManyRequests, reasonQuotaExceeded, "rate limit exceeded"}
	rejNotAuthorized = rejection{proto.CodeNotAuthorized, http.StatusForbidden, reasonNotAuthorized, "not authorized for this topic"}
	rejBadAck        = rejection{proto.CodeBadAck, http.StatusBadRequest, reasonPayloadFormat, "malformed ack frame"}
	rejClosed        = rejection{proto.CodeUnavailable, http.StatusServiceUnavailable, reasonImplSpecific, "server shutting down"}
	rejUnavailable   = rejection{proto.CodeUnavailable, http.StatusServiceUnavailable, reasonImplSpecific, "the server cannot reach its storage right now; try again later"}
	rejInternal      = rejection{proto.CodeInternal, http.StatusInternalServerError, reasonUnspecified, "internal server error"}
)

// rejectCodes lists every code, so the rejects metric starts at zero for
// each.
var rejectCodes = []rejection{rejTooLarge, rejBadEnvelope, rejUnknown, rejFull, rejShareFull, rejAccountFull, rejTooMany,
	rejRate, rejNotAuthorized, rejBadAck, rejClosed, rejInternal}

// quotaRetryAfter is the Retry-After of a refusal for a share or budget
// that only the recipients can free, by taking their envelopes: longer
// than a client waits in a send, so the message waits in its outbox.
const quotaRetryAfter = "300"

// retryAfter is the Retry-After header value for a refusal, "" for none.
func retryAfter(rj rejection) string {
	switch rj {
	case rejShareFull, rejAccountFull:
		return quotaRetryAfter
	case rejRate:
		return "1"
	}
	return ""
}

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
	case errors.Is(err, ErrShareFull):
		return rejShareFull
	case errors.Is(err, ErrAccountFull):
		return rejAccountFull
	case errors.Is(err, ErrRateLimited):
		return rejRate
	case errors.Is(err, ErrNotAuthorized):
		return rejNotAuthorized
	case errors.Is(err, proto.ErrBadAck):
		return rejBadAck
	case errors.Is(err, ErrClosed), errors.Is(err, context.Canceled):
		return rejClosed
	case errors.Is(err, store.ErrUnavailable):
		return rejUnavailable
	}
	return rejInternal
}
