// Package wsconn carries MQTT over a WebSocket as a net.Conn, for the
// relay's /mqtt endpoint and for clients that dial ws:// and wss://
// brokers (MQTT 5 §6: binary messages, the "mqtt" subprotocol).
package wsconn

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Subprotocol is the WebSocket subprotocol of MQTT.
const Subprotocol = "mqtt"

// ErrText: the peer sent a text message; MQTT travels in binary messages.
var ErrText = errors.New("WebSocket text message (MQTT uses binary messages)")

// Conn is a net.Conn over a WebSocket: reads concatenate binary messages
// (MQTT packets may span or share messages), each write is one binary
// message. Writes are serialised, since a WebSocket takes one writer at a
// time and MQTT libraries write from several goroutines. Deadlines go
// through the WebSocket, which sets its own on the connection before
// every frame it writes.
type Conn struct {
	net.Conn // the connection under the WebSocket: addresses
	ws       *websocket.Conn
	r        io.Reader // the message being read, or nil; used by the one reader
	wmu      sync.Mutex
}

// New wraps ws.
func New(ws *websocket.Conn) *Conn { return &Conn{Conn: ws.NetConn(), ws: ws} }

func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, ErrText
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

func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame when it can, then closes the connection.
func (c *Conn) Close() error {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	return c.ws.Close()
}

func (c *Conn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

func (c *Conn) SetDeadline(t time.Time) error {
	return errors.Join(c.ws.SetReadDeadline(t), c.ws.SetWriteDeadline(t))
}
