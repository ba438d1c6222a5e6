package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger returns the server's logger as cfg asks: text (default) or
// JSON lines on w, at cfg.LogLevel.
func NewLogger(w io.Writer, cfg Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// ops holds what runs beside the API: the metrics listener and the TLS
// certificate that SIGHUP reloads.
type ops struct {
	cert atomic.Pointer[tls.Certificate] // served by both listeners; swapped by ReloadTLS

	mu         sync.Mutex // guards the fields below
	metricsLn  net.Listener
	metricsSrv *http.Server
	done       chan struct{} // closed when the metrics server has returned
}

// tlsConfig loads the certificate and returns the configuration both
// listeners serve with; nil without TLS.
func (s *Server) tlsConfig() (*tls.Config, error) {
	if s.cfg.TLSCert == "" {
		return nil, nil
	}
	if err := s.ReloadTLS(); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.ops.cert.Load(), nil }}, nil
}

// ReloadTLS reads the certificate and key files again; handshakes from
// then on present the new certificate, connections already open keep
// theirs. On an error the certificate in use stays.
func (s *Server) ReloadTLS() error {
	if s.cfg.TLSCert == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	s.ops.cert.Store(&cert)
	return nil
}

// startMetrics serves /metrics on its own listener when metrics_listen is
// set. Metrics are never on the API listener: request counts by route,
// registrations and deliveries over time are traffic data about the
// users, for the operator's monitoring only.
func (s *Server) startMetrics() error {
	if s.cfg.MetricsListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("metrics listen %s: %w", s.cfg.MetricsListen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan struct{})
	s.ops.mu.Lock()
	s.ops.metricsLn, s.ops.metricsSrv, s.ops.done = ln, srv, done
	s.ops.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server", "err", err)
		}
	}()
	return nil
}

// stopMetrics shuts the metrics listener down and waits for it.
func (s *Server) stopMetrics(ctx context.Context) error {
	s.ops.mu.Lock()
	srv, done := s.ops.metricsSrv, s.ops.done
	s.ops.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	<-done
	return err
}

// MetricsURL returns the URL of /metrics, or "" when metrics are off.
func (s *Server) MetricsURL() string {
	s.ops.mu.Lock()
	defer s.ops.mu.Unlock()
	if s.ops.metricsLn == nil {
		return ""
	}
	return "http://" + s.ops.metricsLn.Addr().String() + "/metrics"
}
