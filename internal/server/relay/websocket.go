package relay

import (
	"log/slog"
	"net/http"

	"github.com/hush-chat/hush/internal/wsconn"

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
		if r.ws.conns.isClosed() {
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
		r.ws.conns.establish(r.ws.id, newTimedConn(wsconn.New(ws), t), r.broker.EstablishConnection, r.log)
	})
}

// wsListener registers WebSocket clients with the broker under one
// listener id, so the broker's Close disconnects them like TCP clients.
type wsListener struct {
	id         string
	disconnect func(id string) // Relay.disconnectListener
	conns      connSet
}

func (l *wsListener) Init(*slog.Logger) error     { return nil }
func (l *wsListener) Serve(listeners.EstablishFn) {}
func (l *wsListener) ID() string                  { return l.id }
func (l *wsListener) Address() string             { return "http-handler" }
func (l *wsListener) Protocol() string            { return "ws" }
func (l *wsListener) Close(listeners.CloseFn) {
	l.disconnect(l.id)
	l.conns.closeAll()
}
