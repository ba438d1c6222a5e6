//go:build !js

package hush

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// mqttSubprotocol is the WebSocket subprotocol of MQTT (MQTT 5 §6), the
// one the relay's /mqtt endpoint speaks (doc/API.md §4.2).
const mqttSubprotocol = "mqtt"

// dialWebSocket opens a WebSocket to u (ws:// or wss://, path included)
// with the MQTT subprotocol and returns it as a net.Conn for paho.
func dialWebSocket(ctx context.Context, u *url.URL) (net.Conn, error) {
	d := websocket.Dialer{
		Proxy:            websocket.DefaultDialer.Proxy,
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     []string{mqttSubprotocol},
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
	if ws.Subprotocol() != mqttSubprotocol {
		ws.Close()
		return nil, fmt.Errorf("%s does not speak MQTT over WebSocket (no %q subprotocol)", u.Redacted(), mqttSubprotocol)
	}
	return &wsConn{Conn: ws.NetConn(), ws: ws}, nil
}

// wsConn is a net.Conn over a WebSocket: reads concatenate binary
// messages (MQTT packets may span or share messages), each write is one
// binary message. Writes are serialised here because a WebSocket takes
// one writer at a time and paho writes from several goroutines.
type wsConn struct {
	net.Conn // the connection under the WebSocket: addresses, Close, read deadlines
	ws       *websocket.Conn
	r        io.Reader // the message being read, or nil; used by the one reader
	wmu      sync.Mutex
}

var errWSText = errors.New("the broker sent a WebSocket text message (MQTT uses binary messages)")

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errWSText
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame when it can, then closes the connection.
func (c *wsConn) Close() error {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	return c.ws.Close()
}

// SetWriteDeadline goes through the WebSocket, which sets its own
// deadline on the connection before every frame it writes.
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.ws.SetReadDeadline(t), c.ws.SetWriteDeadline(t))
}
