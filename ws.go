//go:build !js

package hush

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hush-chat/hush/internal/wsconn"
)

// dialWebSocket opens a WebSocket to u (ws:// or wss://, path included)
// with the MQTT subprotocol and returns it as a net.Conn for paho.
func dialWebSocket(ctx context.Context, u *url.URL) (net.Conn, error) {
	d := websocket.Dialer{
		Proxy:            websocket.DefaultDialer.Proxy,
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     []string{wsconn.Subprotocol},
	}
	ws, resp, err := d.DialContext(ctx, u.String(), nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("WebSocket refused: HTTP %s (is %s the server's MQTT-over-WebSocket endpoint?)", resp.Status, u.Redacted())
		}
		return nil, err
	}
	if ws.Subprotocol() != wsconn.Subprotocol {
		ws.Close()
		return nil, fmt.Errorf("%s does not speak MQTT over WebSocket (no %q subprotocol)", u.Redacted(), wsconn.Subprotocol)
	}
	return wsconn.New(ws), nil
}
