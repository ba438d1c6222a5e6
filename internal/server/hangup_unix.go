//go:build unix

package server

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// reloadOnHangup takes SIGHUP from now on and returns the function that
// reloads the TLS certificate at every SIGHUP until ctx is done:
// certificate renewal (certbot, cert-manager) without a restart.
func (s *Server) reloadOnHangup() func(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return func(ctx context.Context) {
		defer signal.Stop(hup)
		s.serveHangups(ctx, hup)
	}
}

func (s *Server) serveHangups(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := s.ReloadTLS(); err != nil {
				s.log.Error("SIGHUP: the TLS certificate was not reloaded; the previous one stays in use", "err", err)
			} else if s.cfg.TLSCert != "" {
				s.log.Info("SIGHUP: TLS certificate reloaded", "cert", s.cfg.TLSCert)
			}
		}
	}
}
