package relay

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// MQTTWebSocketHandler serves MQTT over WebSocket (subprotocol "mqtt",
// binary messages) from the server's own http.Server, e.g. at /mqtt. The
// broker's built-in WebSocket listener runs its own http.Server, so the
// relay upgrades the request itself and hands the connection to the
// broker. Authentication is the MQTT CONNECT's, as over TCP; no cookie or
// header is used, so any Origin is accepted.
func (r *Relay) MQTTWebSocketHandler() http.Handler {
	return r.MQTTWebSocketHandlerWith(ConnTimeouts{})
}

// MQTTWebSocketHandlerWith is MQTTWebSocketHandler with the timeouts t
// (zero fields take the defaults): the client has t.Connect after the
// upgrade to send CONNECT, is read with its keepalive capped at t.MaxIdle,
// and each write has its own deadline.
func (r *Relay) MQTTWebSocketHandlerWith(t ConnTimeouts) http.Handler {
	t = t.withDefaults()
	up := &websocket.Upgrader{
		Subprotocols: []string{"mqtt"},
		CheckOrigin:  func(*http.Request) bool { return true },
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.ws.isClosed() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		ws, err := up.Upgrade(w, req, nil)
		if err != nil {
			return // Upgrade has answered the client
		}
		// A WebSocket message holds one or more MQTT packets; the broker
		// enforces the packet size limit, this bounds a single message.
		ws.SetReadLimit(2 * int64(r.lim.MaxEnvelope+packetOverhead))
		c := newTimedConn(&wsConn{Conn: ws.NetConn(), ws: ws}, t)
		if err := r.broker.EstablishConnection(r.ws.id, c); err != nil {
			r.log.Debug("relay: websocket client ended", "error", err)
		}
		_ = c.Close()
	})
}

// wsListener registers WebSocket clients with the broker under one
// listener id, so the broker's Close disconnects them like TCP clients.
type wsListener struct {
	id     string
	mu     sync.Mutex
	closed bool
}

func (l *wsListener) Init(*slog.Logger) error     { return nil }
func (l *wsListener) Serve(listeners.EstablishFn) {}
func (l *wsListener) ID() string                  { return l.id }
func (l *wsListener) Address() string             { return "http-handler" }
func (l *wsListener) Protocol() string            { return "ws" }
func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	closeClients(l.id)
}

func (l *wsListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// wsConn is a net.Conn over a WebSocket: reads concatenate binary
// messages, each write is one binary message. Read deadlines and Close act
// on the underlying connection; write deadlines go through the WebSocket,
// which sets its own before every frame it writes.
type wsConn struct {
	net.Conn
	ws *websocket.Conn
	r  io.Reader // the message being read, or nil
}

var errTextMessage = errors.New("relay: websocket text message (MQTT needs binary)")

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errTextMessage
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
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// SetWriteDeadline sets the deadline of the WebSocket's writes: one set on
// the underlying connection would be replaced at the next frame.
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.ws.SetReadDeadline(t), c.ws.SetWriteDeadline(t))
}
