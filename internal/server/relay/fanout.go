package relay

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
	"github.com/hush-chat/hush/internal/wire"
)

// Fan-out (doc/API.md §4.5): one upload of one envelope for many
// mailboxes, for group messages encrypted once under a sender key. The
// relay stores one copy per mailbox in a single transaction and delivers
// each; the body (proto.Routing) carries 16 bytes of routing per
// recipient.
const (
	// groupEnvelope is the first byte of a group message, opaque to the
	// relay like the others.
	groupEnvelope = 0x03
	// taggedEnvelope is the first byte of a tagged envelope (doc/SPEC.md
	// §14), opaque to the relay like the others.
	taggedEnvelope = 0x05
)

// FanoutResult is one recipient's outcome.
type FanoutResult struct {
	Seq int64 // valid when Err is nil
	Err error // nil, ErrUnknownMailbox, ErrMailboxFull, ErrShareFull or ErrAccountFull
}

// DecodeFanout parses a fan-out body.
func DecodeFanout(b []byte, maxEnvelope int) (mailboxes []string, env []byte, err error) {
	r := wire.NewReader("fan-out", b)
	r.Version(proto.FanoutVersion)
	n := int(r.U16("count"))
	if r.Err() == nil && (n == 0 || n*proto.MailboxRawSize > r.Len()) {
		r.Fail("count", wire.ErrMalformed, "no recipients, or more than the body holds")
	}
	seen := make(map[string]bool, n)
	for i := 0; i < n && r.Err() == nil; i++ {
		m := hex.EncodeToString(r.Fixed("mailbox", proto.MailboxRawSize))
		if seen[m] {
			// One copy per device: a repeated mailbox would store twice.
			r.Fail("mailbox", wire.ErrMalformed, "repeated mailbox")
		}
		seen[m] = true
		mailboxes = append(mailboxes, m)
	}
	env = r.Rest()
	if err := r.Err(); err != nil {
		return nil, nil, err
	}
	if len(env) > maxEnvelope {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(env), maxEnvelope)
	}
	return mailboxes, env, nil
}

// SubmitMany stores env, sent by the account sender, in every mailbox in
// one transaction and delivers each copy. Each copy counts against the
// sender's share of its mailbox and the sender's budget as a send of its
// own. Per-mailbox failures (unknown, full, share or budget used up) are
// reported in the results without failing the others.
func (r *Relay) SubmitMany(ctx context.Context, sender string, mailboxes []string, env []byte) ([]FanoutResult, error) {
	switch {
	case len(env) > r.lim.MaxEnvelope:
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(env), r.lim.MaxEnvelope)
	case len(env) == 0 || (env[0] != sealedEnvelope && env[0] != deliveryEnvelope && env[0] != groupEnvelope && env[0] != taggedEnvelope):
		return nil, ErrBadEnvelope
	case len(mailboxes) == 0 || len(mailboxes) > proto.MaxFanout:
		return nil, fmt.Errorf("%w: %d recipients", ErrBadEnvelope, len(mailboxes))
	}
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return nil, ErrClosed
	}
	r.pending.Add(1)
	r.mu.RUnlock()
	defer r.pending.Done()
	batch := make([]store.NewEnvelope, len(mailboxes))
	exp := r.now().Add(r.lim.TTL)
	for i, m := range mailboxes {
		batch[i] = store.NewEnvelope{Mailbox: m, Sender: sender, Data: env, ExpiresAt: exp}
	}
	res, err := r.st.AppendEnvelopes(ctx, batch, r.stlim)
	if err != nil {
		return nil, err
	}
	out := make([]FanoutResult, len(res))
	for i, x := range res {
		if x.Err == nil {
			out[i].Seq = x.Seq
			r.deliver(mailboxes[i], x.Seq, env)
			continue
		}
		out[i].Err = storeRefusal(x.Err)
	}
	return out, nil
}

// postFanout serves POST /v1/fanout.
func (r *Relay) postFanout(w http.ResponseWriter, req *http.Request) error {
	limit := int64(r.lim.MaxEnvelope) + 3 + proto.MaxFanout*proto.MailboxRawSize
	if req.Header.Get("Content-Type") != "application/octet-stream" {
		return httpapi.Errorf(http.StatusUnsupportedMediaType, "bad_content_type", "want application/octet-stream")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, req.Body, limit))
	if err != nil {
		return httpError(rejTooLarge)
	}
	mailboxes, env, err := DecodeFanout(body, r.lim.MaxEnvelope)
	if errors.Is(err, ErrTooLarge) {
		return httpError(rejTooLarge)
	}
	if err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_fanout", "%v", err)
	}
	// Each recipient costs a send: a request the bucket could never pay
	// for is refused outright.
	if len(mailboxes) > r.lim.Burst {
		r.m.reject(rejTooMany)
		return httpapi.Errorf(rejTooMany.status, rejTooMany.code,
			"fan-out to %d recipients: at most %d per request (the send burst); send it in parts", len(mailboxes), r.lim.Burst)
	}
	p, _ := httpapi.PrincipalFrom(req.Context())
	if ok, wait := r.sends.charge(p, r.now(), len(mailboxes)); !ok {
		r.m.reject(rejRate)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		return httpError(rejRate)
	}
	res, err := r.SubmitMany(req.Context(), p.Username, mailboxes, env)
	if err != nil {
		if rj := classify(err); rj != rejInternal {
			return httpError(rj)
		}
		return err
	}
	out := proto.FanoutAnswer{Seqs: make([]int64, len(res))}
	for i, x := range res {
		out.Seqs[i] = x.Seq
		if x.Err != nil {
			out.Errors = append(out.Errors, proto.FanoutError{Index: i, Code: classify(x.Err).code})
		}
	}
	httpapi.WriteJSON(w, http.StatusAccepted, out)
	return nil
}
