// Package auth logs devices in to the relay. A device proves it holds its
// private envelope key by opening a challenge the server sealed to that key
// (HPKE, doc/SPEC.md §10.2), and receives a short-lived bearer token that
// authenticates its HTTP requests and its MQTT connection.
//
// Only SHA-256 hashes of challenges and tokens are stored; tokens come from
// crypto/rand; hashes are compared in constant time.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// Spec constants (doc/SPEC.md §10.2); the challenge's own are in
// internal/proto.
const (
	tokenSize = 32

	purposeChallenge = "auth-challenge"
)

// Defaults.
const (
	DefaultTokenTTL     = time.Hour
	DefaultChallengeTTL = 2 * time.Minute
)

// Config configures the service.
type Config struct {
	Store        store.Store
	TokenTTL     time.Duration
	ChallengeTTL time.Duration
	Limits       Limits
	Now          func() time.Time
	Logger       *slog.Logger
}

// Service issues challenges and tokens and verifies tokens.
type Service struct {
	cfg     Config
	addrLim *limiter // challenges per client address
	devLim  *limiter // challenges per client address and device
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("auth: no store")
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.ChallengeTTL <= 0 {
		cfg.ChallengeTTL = DefaultChallengeTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Limits = cfg.Limits.withDefaults()
	return &Service{cfg: cfg,
		addrLim: newLimiter(cfg.Limits.AddrRate, cfg.Limits.AddrBurst),
		devLim:  newLimiter(cfg.Limits.DeviceRate, cfg.Limits.DeviceBurst)}, nil
}

// ErrInvalidToken is returned by VerifyToken for an unknown or expired
// token.
var ErrInvalidToken = errors.New("auth: invalid or expired token")

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{2,31}$`)

func hashOf(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// Challenge seals a fresh nonce to the device's envelope key and remembers
// its hash, replacing the device's oldest unanswered challenge when it
// has Limits.MaxOutstanding. It returns the sealed challenge.
func (s *Service) Challenge(ctx context.Context, username string, deviceID uint32) ([]byte, error) {
	d, err := s.cfg.Store.GetDevice(ctx, username, deviceID)
	if err != nil {
		return nil, err
	}
	cert, err := identity.ParseDeviceCert(d.Cert)
	if err != nil {
		return nil, fmt.Errorf("auth: stored certificate: %w", err)
	}
	nonce := make([]byte, proto.NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	defer clear(nonce)
	sealed, err := proto.SealChallenge(cert, nonce)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	err = s.cfg.Store.PutTokenCapped(ctx, store.Token{Hash: hashOf(nonce), Purpose: purposeChallenge,
		Username: username, DeviceID: deviceID, ExpiresAt: now.Add(s.cfg.ChallengeTTL)}, s.cfg.Limits.MaxOutstanding, now)
	if err != nil {
		return nil, err
	}
	return sealed, nil
}

// Grant is a new bearer token.
type Grant struct {
	Token     string
	Mailbox   string
	ExpiresAt time.Time
}

// Answer checks the nonce a device returned and issues a token. A wrong,
// expired or used answer is ErrInvalidToken; a store failure is returned
// as it is (store.ErrUnavailable when the store says so), never as a
// wrong answer: the device did nothing wrong and may try again.
func (s *Service) Answer(ctx context.Context, username string, deviceID uint32, nonce []byte) (*Grant, error) {
	now := s.cfg.Now()
	h := hashOf(nonce)
	t, err := s.cfg.Store.TakeToken(ctx, h, purposeChallenge, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("auth: taking the challenge: %w", err)
	}
	// The store found the row by hash; the explicit constant-time check
	// keeps the comparison independent of how a backend looks rows up.
	if subtle.ConstantTimeCompare(t.Hash, h) != 1 || t.Username != username || t.DeviceID != deviceID {
		return nil, ErrInvalidToken
	}
	d, err := s.cfg.Store.GetDevice(ctx, username, deviceID)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, tokenSize)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	tok := base64.RawURLEncoding.EncodeToString(raw)
	g := &Grant{Token: tok, Mailbox: d.Mailbox, ExpiresAt: now.Add(s.cfg.TokenTTL)}
	err = s.cfg.Store.PutSession(ctx, store.Session{Hash: hashOf([]byte(tok)), Username: username,
		DeviceID: deviceID, Mailbox: d.Mailbox, ExpiresAt: g.ExpiresAt})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// VerifyToken implements httpapi.TokenVerifier.
func (s *Service) VerifyToken(ctx context.Context, token string) (httpapi.Principal, error) {
	if token == "" || len(token) > 128 {
		return httpapi.Principal{}, ErrInvalidToken
	}
	sess, err := s.cfg.Store.GetSession(ctx, hashOf([]byte(token)), s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return httpapi.Principal{}, ErrInvalidToken
	}
	if err != nil {
		// Not ErrInvalidToken: a client told its token is bad would drop
		// it and log in again, against a store that is failing.
		return httpapi.Principal{}, fmt.Errorf("auth: verifying a token: %w", err)
	}
	return httpapi.Principal{Username: sess.Username, DeviceID: sess.DeviceID, Mailbox: sess.Mailbox}, nil
}

// Logout deletes the session of token.
func (s *Service) Logout(ctx context.Context, token string) error {
	return s.cfg.Store.DeleteSession(ctx, hashOf([]byte(token)))
}

// Handler serves the endpoints of doc/API.md §auth under /v1/auth/.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/auth/challenge", s.handleChallenge)
	mux.HandleFunc("POST /v1/auth/token", s.handleToken)
	mux.Handle("POST /v1/auth/logout", httpapi.RequireAuth(s, http.HandlerFunc(s.handleLogout)))
	return mux
}

func (s *Service) handleChallenge(w http.ResponseWriter, r *http.Request) {
	// The address is checked before the body is read, so a refused client
	// costs no decoding; its device after, since the body names it.
	addr := httpapi.RequestClientKey(r)
	now := s.cfg.Now()
	if ok, wait := s.addrLim.allow(addr, now); !ok {
		httpapi.WriteError(w, rateLimited(wait))
		return
	}
	var req proto.ChallengeRequest
	if err := httpapi.DecodeJSON(r, 4<<10, &req); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if !usernameRE.MatchString(req.Username) {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "invalid_username", "usernames match [a-z0-9][a-z0-9_-]{2,31}"))
		return
	}
	if ok, wait := s.devLim.allow(fmt.Sprintf("%s %s %d", addr, req.Username, req.DeviceID), now); !ok {
		httpapi.WriteError(w, rateLimited(wait))
		return
	}
	sealed, err := s.Challenge(r.Context(), req.Username, req.DeviceID)
	if errors.Is(err, store.ErrNotFound) {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusNotFound, "unknown_device", "no device %d for user %q", req.DeviceID, req.Username))
		return
	}
	if err != nil {
		s.cfg.Logger.Error("auth: challenge failed", "err", err)
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, proto.ChallengeAnswer{Challenge: sealed, ExpiresIn: int(s.cfg.ChallengeTTL.Seconds())})
}

func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) {
	var req proto.TokenRequest
	if err := httpapi.DecodeJSON(r, 4<<10, &req); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if len(req.Response) != proto.NonceSize {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "bad_request", "response must be %d bytes", proto.NonceSize))
		return
	}
	g, err := s.Answer(r.Context(), req.Username, req.DeviceID, req.Response)
	if errors.Is(err, ErrInvalidToken) || errors.Is(err, store.ErrNotFound) {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusUnauthorized, "challenge_failed", "wrong, expired or already used challenge response"))
		return
	}
	if err != nil {
		s.cfg.Logger.Error("auth: login failed", "err", err)
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, proto.TokenAnswer{Token: g.Token, Mailbox: g.Mailbox, ExpiresAt: g.ExpiresAt.Unix()})
}

// rateLimited is the answer to a client over a challenge limit.
func rateLimited(wait time.Duration) *httpapi.Error {
	e := httpapi.Errorf(http.StatusTooManyRequests, "rate_limited", "too many login challenges; try again in a moment")
	e.RetryAfter = max(wait, time.Second)
	return e
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("Authorization")[len("Bearer "):]
	if err := s.Logout(r.Context(), tok); err != nil && !errors.Is(err, store.ErrNotFound) {
		httpapi.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
