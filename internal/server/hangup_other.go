//go:build !unix

package server

import "context"

// reloadOnHangup waits for ctx: without SIGHUP, the certificate is
// reloaded by restarting the server.
func (s *Server) reloadOnHangup() func(ctx context.Context) {
	return func(ctx context.Context) { <-ctx.Done() }
}
