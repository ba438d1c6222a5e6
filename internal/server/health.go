package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// healthEvery is the longest a probe result is reused: every probe is a
// committed write (an fsync on SQLite), so /healthz, which anyone may
// call, must not turn into a write flood.
const healthEvery = time.Second

// prober is a store that can prove it takes writes (sqlstore.DB.Probe).
type prober interface {
	Probe(ctx context.Context) error
}

// storeHealth answers /healthz from a write probe of the store, shared by
// the requests of one healthEvery.
type storeHealth struct {
	st store.Store

	mu  sync.Mutex // held while probing: concurrent requests wait for its result
	at  time.Time  // guarded by mu
	err error      // guarded by mu
}

// check returns the store's health, probing it unless a probe of the
// last healthEvery can answer; fresh says it probed.
func (h *storeHealth) check(ctx context.Context) (fresh bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.at) < healthEvery {
		return false, h.err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if p, ok := h.st.(prober); ok {
		err = p.Probe(pctx)
	} else {
		_, err = h.st.CountAccounts(pctx)
	}
	if ctx.Err() != nil {
		return false, err // the caller went away: its result is not the store's
	}
	h.at, h.err = time.Now(), err
	return true, err
}

// healthz answers 200 {"status": "ok"} when the store takes a write, else
// 503 unavailable with the reason and a Retry-After; the failure is
// logged with its cause when it is found.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	fresh, err := s.health.check(r.Context())
	if err == nil {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	reason := store.UnavailableReason(err)
	if reason == "" {
		reason = "database error"
	}
	if fresh {
		s.log.Error("healthz: the store cannot take writes", "reason", reason, "err", err)
	}
	e := httpapi.Unavailable()
	e.Message = "the store cannot take writes: " + reason
	httpapi.WriteError(w, e)
}
