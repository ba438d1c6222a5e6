// Package links serves the rendezvous of device linking (doc/DEVICES.md
// §3, doc/API.md §7): a new device, which has no account yet, opens a slot
// holding its ephemeral public key; a device of the account fetches the
// key and posts one answer, the provisioning message encrypted to that key;
// the new device fetches the answer and the slot is gone. The server sees a
// public key and a ciphertext, and learns only that some account linked a
// device.
//
// Slots live in memory, expire after SlotTTL, and at most MaxSlots exist:
// a slot is worth ten minutes of one person's attention, not durable
// state. Several server instances need the new device and the approving
// device to reach the same instance (or a shared store; a later change).
package links

import (
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
)

const (
	// SlotTTL is how long a slot waits for its answer and its fetch.
	SlotTTL = 10 * time.Minute
	// MaxSlots bounds the live slots.
	MaxSlots = 10000
	// MaxAnswer bounds a provisioning message (contacts ride along).
	MaxAnswer = 4 << 20
	// maxWait bounds one long poll for the answer.
	maxWait = 25 * time.Second
	idLen   = 10
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

type slot struct {
	key      []byte
	answer   []byte
	answered chan struct{} // closed when answer is set
	expires  time.Time
}

// Service serves /v1/links.
type Service struct {
	now    func() time.Time
	log    *slog.Logger
	tokens httpapi.TokenVerifier

	mu    sync.Mutex
	slots map[string]*slot
}

// New returns the service. tokens checks the approving device's login.
func New(tokens httpapi.TokenVerifier, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{now: now, log: log, tokens: tokens, slots: map[string]*slot{}}
}

// Handler serves the four routes.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/links", s.wrap(s.open))
	mux.HandleFunc("GET /v1/links/{id}", s.wrap(s.key))
	mux.Handle("POST /v1/links/{id}/answer", httpapi.RequireAuth(s.tokens, http.HandlerFunc(s.wrap(s.answer))))
	mux.HandleFunc("GET /v1/links/{id}/answer", s.wrap(s.fetch))
	return mux
}

func (s *Service) wrap(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			httpapi.WriteError(w, err)
		}
	}
}

// Sweep forgets expired slots.
func (s *Service) Sweep() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sl := range s.slots {
		if now.After(sl.expires) {
			delete(s.slots, id)
		}
	}
}

func errNoSlot() error {
	return httpapi.Errorf(http.StatusNotFound, proto.CodeUnknownLink, "no such link request (it expired after %s or was used): start again with hush device link", SlotTTL)
}

// open serves POST /v1/links: {public_key} → {id, expires_at}.
func (s *Service) open(w http.ResponseWriter, r *http.Request) error {
	var req proto.LinkOpenRequest
	if err := httpapi.DecodeJSON(r, 8<<10, &req); err != nil {
		return err
	}
	if len(req.PublicKey) != proto.LinkKeySize {
		return httpapi.Errorf(http.StatusBadRequest, proto.CodeBadRequest, "public_key must be %d bytes (an X-Wing public key)", proto.LinkKeySize)
	}
	var raw [idLen]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	id := idEncoding.EncodeToString(raw[:])
	exp := s.now().Add(SlotTTL)
	s.mu.Lock()
	if len(s.slots) >= MaxSlots {
		s.mu.Unlock()
		s.Sweep()
		s.mu.Lock()
	}
	if len(s.slots) >= MaxSlots {
		s.mu.Unlock()
		w.Header().Set("Retry-After", "60")
		return httpapi.Errorf(http.StatusServiceUnavailable, proto.CodeTooManyRequests, "too many devices are being linked right now: try again in a minute")
	}
	s.slots[id] = &slot{key: append([]byte(nil), req.PublicKey...), answered: make(chan struct{}), expires: exp}
	s.mu.Unlock()
	httpapi.WriteJSON(w, http.StatusCreated, proto.LinkOpenAnswer{ID: id, ExpiresAt: exp.Unix()})
	return nil
}

// get returns the live slot id names.
func (s *Service) get(r *http.Request) (string, *slot, error) {
	id := strings.ToUpper(r.PathValue("id"))
	if b, err := idEncoding.DecodeString(id); err != nil || len(b) != idLen {
		return "", nil, httpapi.Errorf(http.StatusBadRequest, proto.CodeBadRequest, "malformed link id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slots[id]
	if sl == nil || s.now().After(sl.expires) {
		return "", nil, errNoSlot()
	}
	return id, sl, nil
}

// key serves GET /v1/links/{id}: the new device's public key.
func (s *Service) key(w http.ResponseWriter, r *http.Request) error {
	_, sl, err := s.get(r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, proto.LinkKeyAnswer{PublicKey: sl.key})
	return nil
}

// answer serves POST /v1/links/{id}/answer: once per slot.
func (s *Service) answer(w http.ResponseWriter, r *http.Request) error {
	var req proto.LinkAnswer
	if err := httpapi.DecodeJSON(r, MaxAnswer, &req); err != nil {
		return err
	}
	if len(req.Ciphertext) == 0 {
		return httpapi.Errorf(http.StatusBadRequest, proto.CodeBadRequest, "ciphertext is empty")
	}
	_, sl, err := s.get(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl.answer != nil {
		return httpapi.Errorf(http.StatusConflict, proto.CodeLinkAnswered, "this link request was already answered: the new device must start again")
	}
	sl.answer = append([]byte(nil), req.Ciphertext...)
	close(sl.answered)
	if p, ok := httpapi.PrincipalFrom(r.Context()); ok {
		s.log.Info("device link answered", "account", p.Username)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// fetch serves GET /v1/links/{id}/answer[?wait=seconds]: the answer once
// it is there (the slot is then gone), else 204 after the wait.
func (s *Service) fetch(w http.ResponseWriter, r *http.Request) error {
	id, sl, err := s.get(r)
	if err != nil {
		return err
	}
	wait, _ := time.ParseDuration(r.URL.Query().Get("wait") + "s")
	wait = min(max(wait, 0), maxWait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-sl.answered:
	case <-t.C:
		w.WriteHeader(http.StatusNoContent)
		return nil
	case <-r.Context().Done():
		return nil
	}
	s.mu.Lock()
	ans := sl.answer
	delete(s.slots, id)
	s.mu.Unlock()
	httpapi.WriteJSON(w, http.StatusOK, proto.LinkAnswer{Ciphertext: ans})
	return nil
}
