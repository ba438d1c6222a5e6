package directory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// The replay guard: every signed request the directory acts on is recorded
// in the store (keyed by the SHA-256 of its payload, which names the
// operation, the account and the time) until its timestamp is stale, so
// that a captured request is applied at most once, also by another server
// instance or after a restart.
//
// A request is recorded only once it has been checked completely —
// decoded, signature verified, every key and the account's state checked —
// right before the first change: a request that fails costs its sender
// nothing here and fills nothing. An unexpired record is never dropped to
// make room; an account over Limits.RequestsPerAccount is refused instead.

// claimRequest records env, a fully checked signed request of account, and
// refuses it when it was recorded before. Callers call it after every
// check of the request and before the first change to the store.
func (d *Directory) claimRequest(ctx context.Context, env *proto.SignedRequest, h *proto.RequestHeader) error {
	hash := sha256.Sum256(env.Payload)
	// The timestamp is refused as stale MaxClockSkew after it (checkFresh):
	// until then the record must stay.
	expires := time.Unix(h.Timestamp, 0).Add(proto.MaxClockSkew + time.Second)
	err := d.st.ClaimRequest(ctx, hash[:], h.Username, expires, d.now(), d.lim.RequestsPerAccount)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrExists):
		return httpapi.Errorf(http.StatusConflict, "replayed_request",
			"this signed request was already received; sign it again with a new timestamp")
	case errors.Is(err, store.ErrLimit):
		return retryAfter(2*proto.MaxClockSkew, httpapi.Errorf(http.StatusTooManyRequests, "too_many_requests",
			"this account sent more than %d signed requests in the last %d minutes; try again later",
			d.lim.RequestsPerAccount, int((2*proto.MaxClockSkew).Minutes())))
	}
	// Acting without a record would let the request be replayed later.
	d.log.Error("directory: recording a signed request", "err", err)
	return retryAfter(5*time.Second, httpapi.Errorf(http.StatusServiceUnavailable, "unavailable",
		"the server cannot record the request right now; try again shortly"))
}

// claimRegistration is claimRequest for a registration, which names an
// account that may not exist yet. A username registration cannot take
// (an active or pending account, a tombstone of another key without
// reuse) is refused before anything is recorded, so that requests for
// taken names, signed by throwaway keys, never fill the guard.
func (d *Directory) claimRegistration(ctx context.Context, env *proto.SignedRequest, req *proto.RegisterRequest,
	idk *identity.IdentityKey) error {
	prev, err := d.st.GetAccount(ctx, req.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("getting account: %w", err)
	}
	if prev != nil && (prev.State != store.StateDeleted || !d.reuse && !bytes.Equal(prev.IdentityKey, idk.Bytes())) {
		return errUsernameTaken()
	}
	return d.claimRequest(ctx, env, &req.RequestHeader)
}

func errUsernameTaken() error {
	return httpapi.Errorf(http.StatusConflict, "username_taken", "this username belongs to another identity key")
}

// ExpireRecords forgets what the directory keeps only for a while: signed
// requests whose timestamps are stale, one-time prekey hand-outs older
// than the limits look back, and the rate buckets of idle requesters.
func (d *Directory) ExpireRecords(ctx context.Context) error {
	now := d.now()
	d.bundles.prune(now)
	if _, err := d.st.ExpireRequests(ctx, now); err != nil {
		return fmt.Errorf("directory: expiring signed requests: %w", err)
	}
	if _, err := d.st.ExpireHandOuts(ctx, now.Add(-d.lim.handOutsKept())); err != nil {
		return fmt.Errorf("directory: expiring prekey hand-outs: %w", err)
	}
	return nil
}
