//go:build js

package hush

import (
	"context"
	"errors"
	"net"
	"net/url"
)

// dialBroker is the browser's broker dialer: only WebSockets can be
// opened there. The WebSocket itself is still to be written on the
// browser's API (syscall/js); until then a js build cannot listen live.
func dialBroker(ctx context.Context, u *url.URL) (net.Conn, error) {
	return nil, errors.New("live delivery in a js/wasm build is not available yet: use Sync")
}
