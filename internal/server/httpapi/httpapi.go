// Package httpapi holds the conventions every hush server HTTP endpoint
// shares (doc/API.md §1): JSON bodies decoded strictly with a size limit,
// one error shape, and bearer-token authentication of a device.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/store"
)

// Error is an error answer: its status and a proto.ErrorAnswer body,
// {"error": {"code": "mailbox_full", "message": "…"}}. Code is stable and
// machine-readable (a proto.Code constant); Message is for people and
// never contains secrets.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfter, when positive, is sent as the Retry-After header: how
	// long the client should wait before it tries again.
	RetryAfter time.Duration `json:"-"`
}

// UnavailableRetryAfter is the Retry-After of a 503 "unavailable" answer
// that does not give its own: long enough that waiting clients do not
// hammer a store the operator is repairing, short enough that a brief
// failure is not noticed.
const UnavailableRetryAfter = 5 * time.Second

// Unavailable is the answer to a request the server cannot serve because
// its store is failing (store.ErrUnavailable).
func Unavailable() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: proto.CodeUnavailable,
		Message: "the server cannot reach its storage right now; try again later", RetryAfter: UnavailableRetryAfter}
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WriteError writes err: an *Error as itself, a store failure
// (store.ErrUnavailable) as 503 "unavailable" with a Retry-After, anything
// else as a 500 "internal" error whose text is not shown to the client. A
// 503 always carries a Retry-After. The error is also handed to the
// ErrorRecorder among the writer's wrappers, if there is one, so that the
// server can log the cause.
func WriteError(w http.ResponseWriter, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, store.ErrUnavailable):
		e = Unavailable()
	default:
		e = &Error{Status: http.StatusInternalServerError, Code: proto.CodeInternal, Message: "internal server error"}
	}
	recordError(w, err)
	retry := e.RetryAfter
	if retry <= 0 && e.Status == http.StatusServiceUnavailable {
		retry = UnavailableRetryAfter
	}
	if retry > 0 && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
	}
	WriteJSON(w, e.Status, proto.ErrorAnswer{Error: proto.ErrorDetail{Code: e.Code, Message: e.Message}})
}

// ErrorRecorder is implemented by a ResponseWriter wrapper that wants the
// error behind each error answer (the server logs store failures from
// it). WriteError finds it by following Unwrap.
type ErrorRecorder interface {
	RecordError(err error)
}

func recordError(w http.ResponseWriter, err error) {
	for w != nil {
		if r, ok := w.(ErrorRecorder); ok {
			r.RecordError(err)
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DecodeJSON reads one JSON object of at most max bytes into v, refusing
// unknown fields and trailing data, with errors as *Error (400 or 413).
func DecodeJSON(r *http.Request, max int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return Errorf(http.StatusUnsupportedMediaType, "bad_content_type", "want application/json")
	}
	body := http.MaxBytesReader(nil, r.Body, max)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Errorf(http.StatusRequestEntityTooLarge, "too_large", "request body over %d bytes", max)
		}
		return Errorf(http.StatusBadRequest, "bad_request", "invalid JSON body: %s", proto.JSONProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(http.StatusBadRequest, "bad_request", "trailing data after the JSON object")
	}
	return nil
}

// Principal is an authenticated device.
type Principal struct {
	Username string
	DeviceID uint32
	Mailbox  string
}

// TokenVerifier checks a bearer token.
type TokenVerifier interface {
	// VerifyToken returns the device the token belongs to, or an error:
	// store.ErrUnavailable when the token could not be checked (the
	// caller answers 503), anything else for a token that is expired or
	// unknown (the caller answers 401 without detail).
	VerifyToken(ctx context.Context, token string) (Principal, error)
}

type principalKey struct{}

// RequireAuth wraps h so that it runs only with a valid
// "Authorization: Bearer <token>" header; the device is then available
// from PrincipalFrom.
func RequireAuth(v TokenVerifier, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			WriteError(w, Errorf(http.StatusUnauthorized, "unauthorized", "missing bearer token"))
			return
		}
		p, err := v.VerifyToken(r.Context(), tok)
		if errors.Is(err, store.ErrUnavailable) {
			// The token may be good: a 401 would make the client throw it
			// away and log in again against a store that is down.
			WriteError(w, err)
			return
		}
		if err != nil {
			WriteError(w, Errorf(http.StatusUnauthorized, "unauthorized", "invalid or expired token"))
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// PrincipalFrom returns the device RequireAuth authenticated.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
