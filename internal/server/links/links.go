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
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
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

	// A recovery slot (multi) collects up to MaxShares answers, one per
	// answering account, and its owner fetches them as they come; woken is
	// closed and replaced at each new answer.
	multi    bool
	username string
	answers  [][]byte       // in arrival order: a fetcher can tell the new ones
	holders  map[string]int // answering account → its answer's index
	woken    chan struct{}
}

// MaxShares bounds the answers of one recovery slot (Shamir shares: at
// most 255 holders).
const MaxShares = 255

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
	mux.HandleFunc("POST /v1/recovery", s.wrap(s.openRecovery))
	mux.HandleFunc("GET /v1/recovery/{id}", s.wrap(s.recoveryKey))
	mux.Handle("POST /v1/recovery/{id}/answer", httpapi.RequireAuth(s.tokens, http.HandlerFunc(s.wrap(s.answerRecovery))))
	mux.HandleFunc("GET /v1/recovery/{id}/answers", s.wrap(s.fetchRecovery))
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

// errNoSlotSentinel is getAny's miss, answered as the route's own 404.
var errNoSlotSentinel = errors.New("no slot")

func errNoRecovery() error {
	return httpapi.Errorf(http.StatusNotFound, proto.CodeUnknownRecovery, "no such recovery request (it expired after %s): start again with hush recovery start", SlotTTL)
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
	id, exp, err := s.add(&slot{key: append([]byte(nil), req.PublicKey...), answered: make(chan struct{})}, w)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, proto.LinkOpenAnswer{ID: id, ExpiresAt: exp.Unix()})
	return nil
}

// get returns the live link slot id names.
func (s *Service) get(r *http.Request) (string, *slot, error) {
	id, sl, err := s.getAny(r)
	if errors.Is(err, errNoSlotSentinel) || (err == nil && sl.multi) {
		return "", nil, errNoSlot()
	}
	return id, sl, err
}

// getRecovery returns the live recovery slot id names.
func (s *Service) getRecovery(r *http.Request) (string, *slot, error) {
	id, sl, err := s.getAny(r)
	if err == nil && !sl.multi {
		return "", nil, errNoRecovery()
	}
	if err != nil && errors.Is(err, errNoSlotSentinel) {
		return "", nil, errNoRecovery()
	}
	return id, sl, err
}

func (s *Service) getAny(r *http.Request) (string, *slot, error) {
	id := strings.ToUpper(r.PathValue("id"))
	if b, err := idEncoding.DecodeString(id); err != nil || len(b) != idLen {
		return "", nil, httpapi.Errorf(http.StatusBadRequest, proto.CodeBadRequest, "malformed link id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slots[id]
	if sl == nil || s.now().After(sl.expires) {
		return "", nil, errNoSlotSentinel
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
	case <-sl.answered: // answered already: never lose the race to a zero wait
	default:
		select {
		case <-sl.answered:
		case <-t.C:
			w.WriteHeader(http.StatusNoContent)
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
	s.mu.Lock()
	ans := sl.answer
	delete(s.slots, id)
	s.mu.Unlock()
	httpapi.WriteJSON(w, http.StatusOK, proto.LinkAnswer{Ciphertext: ans})
	return nil
}

// openRecovery serves POST /v1/recovery: {username, public_key} → {id,
// expires_at}. No account: the person recovering has none on this device.
func (s *Service) openRecovery(w http.ResponseWriter, r *http.Request) error {
	var req proto.RecoveryOpenRequest
	if err := httpapi.DecodeJSON(r, 8<<10, &req); err != nil {
		return err
	}
	if len(req.PublicKey) != proto.LinkKeySize {
		return httpapi.Errorf(http.StatusBadRequest, proto.CodeBadRequest, "public_key must be %d bytes (an X-Wing public key)", proto.LinkKeySize)
	}
	if !proto.ValidUsername(req.Username) {
		return httpapi.Errorf(http.StatusBadRequest, proto.CodeInvalidUsername, "invalid username")
	}
	id, exp, err := s.add(&slot{key: append([]byte(nil), req.PublicKey...), answered: make(chan struct{}),
		multi: true, username: req.Username, holders: map[string]int{}, woken: make(chan struct{})}, w)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, proto.LinkOpenAnswer{ID: id, ExpiresAt: exp.Unix()})
	return nil
}

// add stores a new slot under a fresh id.
func (s *Service) add(sl *slot, w http.ResponseWriter) (string, time.Time, error) {
	var raw [idLen]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", time.Time{}, err
	}
	id := idEncoding.EncodeToString(raw[:])
	sl.expires = s.now().Add(SlotTTL)
	s.Sweep()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.slots) >= MaxSlots {
		w.Header().Set("Retry-After", "60")
		return "", time.Time{}, httpapi.Errorf(http.StatusServiceUnavailable, proto.CodeTooManyRequests, "too many requests are open right now: try again in a minute")
	}
	s.slots[id] = sl
	return id, sl.expires, nil
}

// recoveryKey serves GET /v1/recovery/{id}: whose recovery it is, and the
// key to seal a share to.
func (s *Service) recoveryKey(w http.ResponseWriter, r *http.Request) error {
	_, sl, err := s.getRecovery(r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, proto.RecoveryKeyAnswer{Username: sl.username, PublicKey: sl.key})
	return nil
}

// answerRecovery serves POST /v1/recovery/{id}/answer: one share per
// answering account (a second answer from the same account replaces its
// first), at most MaxShares.
func (s *Service) answerRecovery(w http.ResponseWriter, r *http.Request) error {
	var req proto.LinkAnswer
	if err := httpapi.DecodeJSON(r, 64<<10, &req); err != nil {
		return err
	}
	if len(req.Ciphertext) == 0 {
		return httpapi.Errorf(http.StatusBadRequest, proto.CodeBadRequest, "ciphertext is empty")
	}
	p, ok := httpapi.PrincipalFrom(r.Context())
	if !ok {
		return httpapi.Errorf(http.StatusUnauthorized, proto.CodeUnauthorized, "log in first")
	}
	_, sl, err := s.getRecovery(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ans := append([]byte(nil), req.Ciphertext...)
	if i, again := sl.holders[p.Username]; again {
		sl.answers[i] = ans // the same place: answers keep their order
	} else if len(sl.answers) >= MaxShares {
		return httpapi.Errorf(http.StatusConflict, proto.CodeTooManyRequests, "this recovery request has all the answers it can take")
	} else {
		sl.holders[p.Username] = len(sl.answers)
		sl.answers = append(sl.answers, ans)
	}
	close(sl.woken)
	sl.woken = make(chan struct{})
	s.log.Info("recovery share posted", "holder", p.Username, "for", sl.username)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// fetchRecovery serves GET /v1/recovery/{id}/answers?have=N&wait=S: the
// answers, in the order they first came, once there are more than N
// (waiting up to S seconds), else 204.
func (s *Service) fetchRecovery(w http.ResponseWriter, r *http.Request) error {
	_, sl, err := s.getRecovery(r)
	if err != nil {
		return err
	}
	have, _ := strconv.Atoi(r.URL.Query().Get("have"))
	wait, _ := time.ParseDuration(r.URL.Query().Get("wait") + "s")
	wait = min(max(wait, 0), maxWait)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		s.mu.Lock()
		n, woken := len(sl.answers), sl.woken
		var out [][]byte
		if n > have {
			out = slices.Clone(sl.answers)
		}
		s.mu.Unlock()
		if out != nil {
			httpapi.WriteJSON(w, http.StatusOK, proto.RecoveryAnswers{Ciphertexts: out})
			return nil
		}
		select {
		case <-woken:
		case <-t.C:
			w.WriteHeader(http.StatusNoContent)
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}
