package server

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// throttleEvery is the most often a repeated warning is logged: the first
// one at once, then one every throttleEvery with the count it stands for.
const throttleEvery = 10 * time.Second

// throttledLog logs the first of a run of like events at once and then at
// most one every throttleEvery, counting those in between: a failing disk
// or a client hammering the server must not flood the log. Safe for
// concurrent use.
type throttledLog struct {
	log   *slog.Logger
	level slog.Level

	mu         sync.Mutex
	last       time.Time // guarded by mu
	suppressed int       // guarded by mu
}

func newThrottledLog(log *slog.Logger, level slog.Level) *throttledLog {
	return &throttledLog{log: log, level: level}
}

func (t *throttledLog) Log(msg string, args ...any) {
	t.mu.Lock()
	now := time.Now()
	if now.Sub(t.last) < throttleEvery {
		t.suppressed++
		t.mu.Unlock()
		return
	}
	n := t.suppressed
	t.last, t.suppressed = now, 0
	t.mu.Unlock()
	if n > 0 {
		args = append(args, "similar_since_last_logged", n)
	}
	t.log.Log(context.Background(), t.level, msg, args...)
}

// logStoreFailures logs the cause of every answer the store's failure
// turned into 503 unavailable (throttled), whichever service gave it:
// httpapi.WriteError hands the error to the writer's RecordError.
func logStoreFailures(log *slog.Logger, h http.Handler) http.Handler {
	t := newThrottledLog(log, slog.LevelError)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&errorRecorder{ResponseWriter: w, t: t, r: r}, r)
	})
}

type errorRecorder struct {
	http.ResponseWriter
	t *throttledLog
	r *http.Request
}

// RecordError implements httpapi.ErrorRecorder.
func (w *errorRecorder) RecordError(err error) {
	if errors.Is(err, store.ErrUnavailable) {
		w.t.Log("store unavailable: answering 503", "reason", store.UnavailableReason(err),
			"route", routeFamily(w.r.URL.Path), "err", err)
	}
}

func (w *errorRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *errorRecorder) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *errorRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
