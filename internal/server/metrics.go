package server

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// instrument counts requests and their latency by route family and status.
// The label is the first two path segments ("/v1/users"), never a username
// or token, so metrics reveal no identities.
func instrument(reg *prometheus.Registry, h http.Handler) http.Handler {
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hush_http_requests_total", Help: "HTTP requests by route family and status code.",
	}, []string{"route", "code"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hush_http_request_seconds", Help: "HTTP request latency by route family.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"route"})
	reg.MustRegister(reqs, lat)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		route := routeFamily(r.URL.Path)
		reqs.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		lat.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

func routeFamily(p string) string {
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 3)
	switch {
	case len(parts) >= 2 && parts[0] == "v1":
		return "/v1/" + parts[1]
	case len(parts) >= 1 && (parts[0] == "healthz" || parts[0] == "metrics" || parts[0] == "mqtt"):
		return "/" + parts[0]
	}
	return "other"
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (the
// MQTT WebSocket upgrade needs Hijack).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack passes through to the underlying writer for the WebSocket upgrade.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: connection cannot be hijacked")
	}
	w.code = http.StatusSwitchingProtocols
	return h.Hijack()
}

// Flush passes through to the underlying writer.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
