package backups

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hush-chat/hush/internal/backup"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// maxSmallBody bounds the JSON bodies (OPRF request, unlock).
const maxSmallBody = 4 << 10

// Handler returns the HTTP handler of the backup endpoints.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/backup/oprf", s.wrap(s.handleOPRF))
	mux.HandleFunc("POST /v1/backup/unlock", s.wrap(s.handleUnlock))
	mux.HandleFunc("PUT /v1/backup", s.wrap(s.handlePut))
	mux.HandleFunc("GET /v1/backup/{username}", s.wrap(s.handleGet))
	return mux
}

func (s *Service) wrap(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			httpapi.WriteError(w, err)
		}
	}
}

// handleOPRF serves POST /v1/backup/oprf. The evaluation is counted before
// it is computed or answered: a client that drops the connection after
// sending has still used a try.
func (s *Service) handleOPRF(w http.ResponseWriter, r *http.Request) error {
	var req proto.BackupOPRFRequest
	if err := httpapi.DecodeJSON(r, maxSmallBody, &req); err != nil {
		return err
	}
	if !proto.ValidUsername(req.Username) {
		return errInvalidUsername()
	}
	if len(req.Blinded) != backup.ElementSize {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "blinded must be %d bytes", backup.ElementSize)
	}
	ctx, now := r.Context(), s.now()
	c, err := s.st.CountBackupEvaluation(ctx, req.Username, now, s.window, s.evals)
	switch {
	case errors.Is(err, store.ErrLimit):
		s.m.evaluations.WithLabelValues("locked").Inc()
		return s.errLocked(c.WindowStart.Add(s.window).Sub(now))
	case errors.Is(err, store.ErrNotFound):
		// No account: answer as for an account's first evaluation. The
		// directory already tells who exists; whether a backup exists
		// stays unsaid for everyone.
		c = store.BackupCount{Used: 1}
	case err != nil:
		return err
	}
	secret, err := s.serverSecret(ctx)
	if err != nil {
		return err
	}
	key, err := backup.ServerKey(secret, req.Username)
	if err != nil {
		return fmt.Errorf("backups: deriving an OPRF key: %w", err)
	}
	ev, err := backup.Evaluate(key, req.Blinded)
	if err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "blinded is not a valid group element")
	}
	s.m.evaluations.WithLabelValues("answered").Inc()
	httpapi.WriteJSON(w, http.StatusOK, proto.BackupOPRFAnswer{Evaluated: ev, TriesLeft: max(0, s.evals-c.Used)})
	return nil
}

func (s *Service) errLocked(left time.Duration) error {
	e := httpapi.Errorf(http.StatusTooManyRequests, "backup_locked",
		"this account's backup passphrase was tried %d times in %s; it unlocks in %s, or run hush backup unlock on a device of the account",
		s.evals, s.window, left.Round(time.Minute))
	e.RetryAfter = max(left, time.Second)
	return e
}

// handleUnlock serves POST /v1/backup/unlock (op "unlock_backup").
func (s *Service) handleUnlock(w http.ResponseWriter, r *http.Request) error {
	var env proto.SignedRequest
	if err := httpapi.DecodeJSON(r, maxSmallBody, &env); err != nil {
		return err
	}
	var req proto.UnlockBackupRequest
	if err := s.authorize(r, &env, &req, &req.RequestHeader, proto.OpUnlockBackup); err != nil {
		return err
	}
	if err := s.claim(r, &env, &req.RequestHeader); err != nil {
		return err
	}
	if err := s.st.ResetBackupEvaluations(r.Context(), req.Username); err != nil {
		return err
	}
	s.m.unlocks.Inc()
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// handlePut serves PUT /v1/backup (op "put_backup"): the signed request
// in the Hush-Signed-Request header names the body's size and SHA-256.
func (s *Service) handlePut(w http.ResponseWriter, r *http.Request) error {
	raw, err := base64.StdEncoding.DecodeString(r.Header.Get(proto.HeaderSignedRequest))
	if err != nil || len(raw) == 0 {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "the %s header must hold a base64 signed request", proto.HeaderSignedRequest)
	}
	var env proto.SignedRequest
	if err := decodeStrict(raw, &env); err != nil {
		return err
	}
	var req proto.PutBackupRequest
	if err := s.authorize(r, &env, &req, &req.RequestHeader, proto.OpPutBackup); err != nil {
		return err
	}
	if req.Size <= 0 || req.Size > s.max {
		return httpapi.Errorf(http.StatusRequestEntityTooLarge, "too_large", "a backup is 1 to %d bytes", s.max)
	}
	if len(req.SHA256) != sha256.Size {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "sha256 must be %d bytes", sha256.Size)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, req.Size+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return httpapi.Errorf(http.StatusBadRequest, "bad_size", "the body is longer than the signed size")
		}
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "reading the body failed")
	}
	sum := sha256.Sum256(body)
	if int64(len(body)) != req.Size || !bytes.Equal(sum[:], req.SHA256) {
		return httpapi.Errorf(http.StatusBadRequest, "bad_size", "the body is not the backup the request signs (size or SHA-256 differ)")
	}
	if _, err := backup.Parse(body); err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "the body is not a hush backup")
	}
	if err := s.claim(r, &env, &req.RequestHeader); err != nil {
		return err
	}
	if err := s.st.PutBackup(r.Context(), req.Username, body, s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotActive()
		}
		return err
	}
	s.m.stored.Inc()
	httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// handleGet serves GET /v1/backup/{username}.
func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("username")
	if !proto.ValidUsername(name) {
		return errInvalidUsername()
	}
	b, err := s.st.GetBackup(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return httpapi.Errorf(http.StatusNotFound, "no_backup", "there is no backup for %s on this server", name)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
	return nil
}

// authorize decodes env's payload into req strictly, checks its op, its
// timestamp and its signature by the account's current identity key, and
// requires an active account. It records nothing (see claim).
func (s *Service) authorize(r *http.Request, env *proto.SignedRequest, req any, h *proto.RequestHeader, op string) error {
	if len(env.Payload) == 0 || env.NewKeySignature != nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "a signed request needs a payload and one signature")
	}
	if len(env.Signature) != identity.SignatureSize {
		return httpapi.Errorf(http.StatusUnauthorized, "bad_signature", "signature must be %d bytes", identity.SignatureSize)
	}
	if err := decodeStrict(env.Payload, req); err != nil {
		return err
	}
	if h.Op != op {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "payload op must be %q", op)
	}
	if !proto.ValidUsername(h.Username) {
		return errInvalidUsername()
	}
	ts, now := time.Unix(h.Timestamp, 0), s.now()
	if ts.Before(now.Add(-proto.MaxClockSkew)) || ts.After(now.Add(proto.MaxClockSkew)) {
		return httpapi.Errorf(http.StatusUnauthorized, "stale_request",
			"request timestamp is more than %s from the server time", proto.MaxClockSkew)
	}
	acct, err := s.st.GetAccount(r.Context(), h.Username)
	if errors.Is(err, store.ErrNotFound) {
		return httpapi.Errorf(http.StatusNotFound, "unknown_user", "no such user")
	}
	if err != nil {
		return err
	}
	key, err := identity.NewIdentityKey(acct.IdentityKey)
	if err != nil {
		return fmt.Errorf("backups: stored identity key: %w", err)
	}
	if err := key.Verify(proto.LabelRequest, env.Payload, env.Signature); err != nil {
		return httpapi.Errorf(http.StatusUnauthorized, "bad_signature", "request signature does not verify with the identity key")
	}
	if acct.State != store.StateActive {
		return errNotActive()
	}
	return nil
}

// claim records a fully checked signed request in the store's replay
// guard (shared with the directory) and refuses one seen before.
func (s *Service) claim(r *http.Request, env *proto.SignedRequest, h *proto.RequestHeader) error {
	hash := sha256.Sum256(env.Payload)
	expires := time.Unix(h.Timestamp, 0).Add(proto.MaxClockSkew + time.Second)
	err := s.st.ClaimRequest(r.Context(), hash[:], h.Username, expires, s.now(), s.reqs)
	switch {
	case errors.Is(err, store.ErrExists):
		return httpapi.Errorf(http.StatusConflict, "replayed_request",
			"this signed request was already received; sign it again with a new timestamp")
	case errors.Is(err, store.ErrLimit):
		e := httpapi.Errorf(http.StatusTooManyRequests, "too_many_requests",
			"this account sent too many signed requests recently; try again later")
		e.RetryAfter = 2 * proto.MaxClockSkew
		return e
	}
	return err
}

func decodeStrict(b []byte, v any) error {
	if err := proto.DecodeStrict(b, v); err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "%s", err.Error())
	}
	return nil
}

func errInvalidUsername() error {
	return httpapi.Errorf(http.StatusBadRequest, "invalid_username",
		"usernames are 3 to 32 characters from a-z, 0-9, _ and -, starting with a letter or digit")
}

func errNotActive() error {
	return httpapi.Errorf(http.StatusConflict, "not_active", "the account is not active")
}
