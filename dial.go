//go:build !js

package hush

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"time"
)

// dialBroker opens the byte stream an MQTT client runs over, for the
// broker URL u: raw TCP (mqtt://, tcp://), TLS (mqtts://, ssl://, tls://)
// or a WebSocket (ws://, wss://, e.g. the relay's /mqtt). It is the one
// place the client dials a broker: a js/wasm build, where a browser can
// open WebSockets but no TCP connection, replaces this file.
func dialBroker(ctx context.Context, u *url.URL) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	switch u.Scheme {
	case "mqtt", "tcp":
		return d.DialContext(ctx, "tcp", u.Host)
	case "mqtts", "ssl", "tls":
		return (&tls.Dialer{NetDialer: &d}).DialContext(ctx, "tcp", u.Host)
	case "ws", "wss":
		return dialWebSocket(ctx, u)
	}
	return nil, fmt.Errorf("bad MQTT URL %q: scheme must be mqtt, mqtts, ws or wss", u.Redacted())
}
