package relay

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hush-chat/hush/internal/server/httpapi"
)

// HTTP limits.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
	maxAckBody       = 256 << 10
	maxHTTPAckSeqs   = 10_000
)

// JSON framing of a GET /v1/mailbox answer, for listedSize.
const (
	listFraming  = len(`{"envelopes":[]}` + "\n")
	entryFraming = len(`{"seq":,"envelope":"","stored_at":}`)
)

// listedSize is how many bytes e adds to a GET /v1/mailbox answer,
// separating comma included (encoding/json writes []byte as standard
// base64 with padding, which needs no escaping).
func listedSize(e listedEnvelope) int {
	return entryFraming + len(strconv.FormatInt(e.Seq, 10)) + base64.StdEncoding.EncodedLen(len(e.Envelope)) +
		len(strconv.FormatInt(e.StoredAt, 10)) + 1
}

// Handler serves the relay's HTTP API (doc/api-drafts/relay.md); every
// route needs a bearer token:
//
//	POST /v1/messages                    {"mailbox", "envelope"} → 202 {"seq"}
//	POST /v1/mailboxes/{id}/envelopes    raw envelope (application/octet-stream) → 202 {"seq"}
//	GET  /v1/mailbox?after=&limit=       own pending envelopes
//	POST /v1/mailbox/ack                 {"seqs": [...]} → {"deleted"}
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, httpapi.RequireAuth(r.tokens, handle(h)))
	}
	route("POST /v1/messages", r.postMessage)
	route("POST /v1/mailboxes/{id}/envelopes", r.postEnvelope)
	route("GET /v1/mailbox", r.getMailbox)
	route("POST /v1/mailbox/ack", r.postAck)
	route("POST /v1/fanout", r.postFanout)
	return mux
}

// handle turns an error-returning handler into an http.Handler that
// answers errors in the shared shape and never lets a panic reach the
// client.
func handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				httpapi.WriteError(w, errors.New("panic"))
			}
		}()
		if err := h(w, req); err != nil {
			httpapi.WriteError(w, err)
		}
	})
}

type submitRequest struct {
	Mailbox  string `json:"mailbox"`
	Envelope []byte `json:"envelope"` // standard base64 with padding
}

type submitResponse struct {
	Seq int64 `json:"seq"`
}

// decodeSubmit reads a POST /v1/messages body. The body limit admits the
// base64 form of a maximal envelope; a larger envelope is
// envelope_too_large whether it is caught by the body limit or after
// decoding.
func decodeSubmit(req *http.Request, maxEnvelope int) (submitRequest, error) {
	var body submitRequest
	limit := int64(4*((maxEnvelope+2)/3)) + 1024
	if err := httpapi.DecodeJSON(req, limit, &body); err != nil {
		var he *httpapi.Error
		if errors.As(err, &he) && he.Code == "too_large" {
			return body, httpError(rejTooLarge)
		}
		return body, err
	}
	if len(body.Envelope) > maxEnvelope {
		return body, httpError(rejTooLarge)
	}
	return body, nil
}

func (r *Relay) postMessage(w http.ResponseWriter, req *http.Request) error {
	body, err := decodeSubmit(req, r.lim.MaxEnvelope)
	if err != nil {
		r.countHTTPReject(err)
		return err
	}
	return r.httpSubmit(w, req, body.Mailbox, body.Envelope)
}

// readEnvelope reads a raw envelope body (POST /v1/mailboxes/{id}/envelopes).
func readEnvelope(req *http.Request, maxEnvelope int) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mt != "application/octet-stream" {
		return nil, httpapi.Errorf(http.StatusUnsupportedMediaType, "bad_content_type", "want application/octet-stream")
	}
	if req.ContentLength > int64(maxEnvelope) {
		return nil, httpError(rejTooLarge)
	}
	env, err := io.ReadAll(http.MaxBytesReader(nil, req.Body, int64(maxEnvelope)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, httpError(rejTooLarge)
		}
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "could not read the body")
	}
	return env, nil
}

func (r *Relay) postEnvelope(w http.ResponseWriter, req *http.Request) error {
	env, err := readEnvelope(req, r.lim.MaxEnvelope)
	if err != nil {
		r.countHTTPReject(err)
		return err
	}
	return r.httpSubmit(w, req, req.PathValue("id"), env)
}

func (r *Relay) httpSubmit(w http.ResponseWriter, req *http.Request, mailbox string, env []byte) error {
	p, _ := httpapi.PrincipalFrom(req.Context())
	if !r.sends.allow(p, r.now()) {
		r.m.reject(rejRate)
		w.Header().Set("Retry-After", "1")
		return httpError(rejRate)
	}
	seq, err := r.SubmitFrom(req.Context(), p.Username, mailbox, env)
	if err != nil {
		rj := classify(err)
		if rj == rejInternal {
			return err // logged by the committer; hidden from the client
		}
		if ra := retryAfter(rj); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		return httpError(rj)
	}
	httpapi.WriteJSON(w, http.StatusAccepted, submitResponse{Seq: seq})
	return nil
}

type listedEnvelope struct {
	Seq      int64  `json:"seq"`
	Envelope []byte `json:"envelope"`
	StoredAt int64  `json:"stored_at"` // Unix seconds
}

type listResponse struct {
	Envelopes []listedEnvelope `json:"envelopes"`
}

// parseListQuery reads ?after=<seq>&limit=<n> (both optional).
func parseListQuery(q url.Values) (after int64, limit int, err error) {
	limit = defaultListLimit
	if s := q.Get("after"); s != "" {
		after, err = strconv.ParseInt(s, 10, 64)
		if err != nil || after < 0 {
			return 0, 0, httpapi.Errorf(http.StatusBadRequest, "bad_request", "after must be a sequence number >= 0")
		}
	}
	if s := q.Get("limit"); s != "" {
		limit, err = strconv.Atoi(s)
		if err != nil || limit < 1 || limit > maxListLimit {
			return 0, 0, httpapi.Errorf(http.StatusBadRequest, "bad_request", "limit must be 1..%d", maxListLimit)
		}
	}
	return after, limit, nil
}

// getMailbox lists the caller's own pending envelopes. A device has at
// most Limits.ListConcurrency lists running; another is refused with 429
// rate_limited and Retry-After, so a device cannot multiply what the
// relay holds for it by asking many times at once.
func (r *Relay) getMailbox(w http.ResponseWriter, req *http.Request) error {
	after, limit, err := parseListQuery(req.URL.Query())
	if err != nil {
		return err
	}
	p, _ := httpapi.PrincipalFrom(req.Context())
	if !r.lists.acquire(p.Mailbox) {
		r.m.reject(rejRate)
		w.Header().Set("Retry-After", "1")
		return httpapi.Errorf(http.StatusTooManyRequests, rejRate.code, "too many mailbox lists running for this device")
	}
	defer r.lists.release(p.Mailbox)
	return r.writeList(w, req, p.Mailbox, after, limit)
}

type ackRequest struct {
	Seqs []int64 `json:"seqs"`
}

type ackResponse struct {
	Deleted int64 `json:"deleted"`
}

// decodeAckRequest reads a POST /v1/mailbox/ack body.
func decodeAckRequest(req *http.Request) ([]int64, error) {
	var body ackRequest
	if err := httpapi.DecodeJSON(req, maxAckBody, &body); err != nil {
		return nil, err
	}
	if len(body.Seqs) == 0 || len(body.Seqs) > maxHTTPAckSeqs {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "seqs must hold 1..%d sequence numbers", maxHTTPAckSeqs)
	}
	for _, s := range body.Seqs {
		if s <= 0 {
			return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "sequence numbers are positive")
		}
	}
	return body.Seqs, nil
}

// postAck deletes acknowledged envelopes of the caller's own mailbox only:
// the mailbox comes from the token, never from the request.
func (r *Relay) postAck(w http.ResponseWriter, req *http.Request) error {
	seqs, err := decodeAckRequest(req)
	if err != nil {
		return err
	}
	p, _ := httpapi.PrincipalFrom(req.Context())
	n, err := r.st.AckEnvelopes(req.Context(), p.Mailbox, seqs)
	if err != nil {
		return err
	}
	r.m.acked.Add(float64(n))
	httpapi.WriteJSON(w, http.StatusOK, ackResponse{Deleted: n})
	return nil
}

func httpError(rj rejection) *httpapi.Error {
	return httpapi.Errorf(rj.status, rj.code, "%s", rj.message)
}

// countHTTPReject counts a request refused before Submit saw it.
func (r *Relay) countHTTPReject(err error) {
	var he *httpapi.Error
	if errors.As(err, &he) {
		for _, rj := range rejectCodes {
			if rj.code == he.Code {
				r.m.reject(rj)
				return
			}
		}
	}
}
