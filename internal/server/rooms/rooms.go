// Package rooms serves the public room listing (doc/API.md §6). An admin
// of a public room publishes its current group state, signed with the
// admin's identity key like a directory mutation; anyone may list the
// rooms and fetch a room's signed publication to join it. The server
// checks only that the signer is an account whose current identity key is
// an admin of the state it publishes (and of the listing it replaces) and
// that versions only grow: verifying the group's history is the joining
// client's work. It learns nothing a public room does not announce.
package rooms

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// OpPublish is the "op" of a signed room publication.
const OpPublish = "publish_room"

// Limits of the listing.
const (
	maxBody      = 2 << 20 // a state of 1,000 members, base64 in JSON, fits
	defaultLimit = 100
	maxLimit     = 1000
)

// Config configures the service.
type Config struct {
	Store  store.Store
	Now    func() time.Time // defaults to time.Now
	Logger *slog.Logger
}

// Service serves /v1/rooms.
type Service struct {
	st  store.Store
	now func() time.Time
	log *slog.Logger
}

// New returns the rooms service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("rooms: no store")
	}
	s := &Service{st: cfg.Store, now: cfg.Now, log: cfg.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Handler serves POST /v1/rooms, GET /v1/rooms and GET /v1/rooms/{id}.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/rooms", s.wrap(s.publish))
	mux.HandleFunc("GET /v1/rooms", s.wrap(s.list))
	mux.HandleFunc("GET /v1/rooms/{id}", s.wrap(s.get))
	return mux
}

func (s *Service) wrap(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			var he *httpapi.Error
			if !errors.As(err, &he) {
				s.log.Error("rooms", "path", r.URL.Path, "err", err)
			}
			httpapi.WriteError(w, err)
		}
	}
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) error {
	limit := defaultLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return httpapi.Errorf(http.StatusBadRequest, "bad_request", "limit must be 1 to %d", maxLimit)
		}
		limit = n
	}
	rooms, err := s.st.ListRooms(r.Context(), limit)
	if err != nil {
		return err
	}
	out := make([]proto.Summary, 0, len(rooms))
	for _, rm := range rooms {
		out = append(out, proto.Summary{ID: rm.ID, Name: rm.Name, Members: rm.Members, Version: rm.Version})
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Rooms []proto.Summary `json:"rooms"`
	}{out})
	return nil
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) error {
	rm, err := s.st.GetRoom(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return httpapi.Errorf(http.StatusNotFound, "unknown_room", "no such public room")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(rm.Listing)
	return err
}

func (s *Service) publish(w http.ResponseWriter, r *http.Request) error {
	var env proto.SignedRequest
	if err := httpapi.DecodeJSON(r, maxBody, &env); err != nil {
		return err
	}
	p, st, err := s.check(r, &env)
	if err != nil {
		return err
	}
	listing, err := json.Marshal(proto.SignedRequest{Payload: env.Payload, Signature: env.Signature})
	if err != nil {
		return fmt.Errorf("rooms: encoding listing: %w", err)
	}
	err = s.st.PutRoom(r.Context(), store.Room{ID: p.RoomID, Name: st.Name(), Members: len(st.Members()),
		Version: st.Version(), Listing: listing})
	if errors.Is(err, store.ErrStale) {
		return httpapi.Errorf(http.StatusConflict, "stale", "a listing of this room at the same or a newer version exists")
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, proto.Summary{ID: p.RoomID, Name: st.Name(), Members: len(st.Members()), Version: st.Version()})
	return nil
}

// check decodes and authorizes a publication: a public state whose id
// and name the payload repeats, signed within the clock skew by an
// active account whose current identity key is an admin of that state
// and of the stored listing it would replace.
func (s *Service) check(r *http.Request, env *proto.SignedRequest) (*proto.Publication, *group.State, error) {
	var p proto.Publication
	if err := decodeStrict(env.Payload, &p); err != nil {
		return nil, nil, err
	}
	if p.Op != proto.OpPublish || !proto.ValidUsername(p.Username) {
		return nil, nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "payload must be op %q by a valid username", proto.OpPublish)
	}
	if d := s.now().Sub(time.Unix(p.Timestamp, 0)); d > proto.MaxClockSkew || d < -proto.MaxClockSkew {
		return nil, nil, httpapi.Errorf(http.StatusUnauthorized, "stale_request", "request timestamp too far from the server clock")
	}
	st, err := group.ParseState(p.State)
	if err != nil {
		return nil, nil, httpapi.Errorf(http.StatusBadRequest, "bad_state", "state does not parse")
	}
	id := st.ID()
	if st.Type() != group.Public || hex.EncodeToString(id[:]) != p.RoomID || st.Name() != p.Name {
		return nil, nil, httpapi.Errorf(http.StatusBadRequest, "bad_state", "state is not the public room the payload names")
	}
	acct, err := s.st.GetAccount(r.Context(), p.Username)
	if errors.Is(err, store.ErrNotFound) || err == nil && acct.State != store.StateActive {
		return nil, nil, httpapi.Errorf(http.StatusForbidden, "not_admin", "signer is not an active account")
	}
	if err != nil {
		return nil, nil, err
	}
	if err := verifySigner(st, acct, env); err != nil {
		return nil, nil, err
	}
	if err := s.checkStored(r, p.RoomID, acct); err != nil {
		return nil, nil, err
	}
	return &p, st, nil
}

// verifySigner checks the signer is an admin of st under its current
// identity key and that key signed the payload.
func verifySigner(st *group.State, acct *store.Account, env *proto.SignedRequest) error {
	m, ok := st.Member(acct.Username)
	if !ok || m.Role != group.RoleAdmin || !bytes.Equal(m.Identity[:], acct.IdentityKey) {
		return httpapi.Errorf(http.StatusForbidden, "not_admin", "signer is not an admin of this room")
	}
	key, err := identity.NewIdentityKey(acct.IdentityKey)
	if err != nil {
		return fmt.Errorf("rooms: stored identity key: %w", err)
	}
	if err := key.Verify(proto.LabelRequest, env.Payload, env.Signature); err != nil {
		return httpapi.Errorf(http.StatusUnauthorized, "bad_signature", "signature does not verify")
	}
	return nil
}

// checkStored refuses a publication by someone who is not an admin of
// the listing it replaces, so a made-up state cannot take a room over.
func (s *Service) checkStored(r *http.Request, id string, acct *store.Account) error {
	old, err := s.st.GetRoom(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var prev proto.SignedRequest
	var pp proto.Publication
	if json.Unmarshal(old.Listing, &prev) != nil || json.Unmarshal(prev.Payload, &pp) != nil {
		return fmt.Errorf("rooms: stored listing of %s does not decode", id)
	}
	st, err := group.ParseState(pp.State)
	if err != nil {
		return fmt.Errorf("rooms: stored state of %s: %w", id, err)
	}
	m, ok := st.Member(acct.Username)
	if !ok || m.Role != group.RoleAdmin || !bytes.Equal(m.Identity[:], acct.IdentityKey) {
		return httpapi.Errorf(http.StatusForbidden, "not_admin", "signer is not an admin of the listed room")
	}
	return nil
}

// decodeStrict decodes one JSON object, refusing unknown fields and
// trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "invalid payload")
	}
	if _, err := dec.Token(); err != io.EOF {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "trailing data after the payload")
	}
	return nil
}
