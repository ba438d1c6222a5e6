package relay

import (
	"net"
	"time"
)

// ConnTimeouts bound how long one MQTT connection, over TCP or WebSocket,
// can hold the relay without doing its part. Zero fields take the
// defaults.
type ConnTimeouts struct {
	// Connect is how long a new connection has to send its CONNECT.
	Connect time.Duration
	// MaxIdle is the longest the relay waits for the next packet,
	// whatever keepalive the client asked for: the broker allows 1.5 ×
	// the keepalive, and a keepalive of 0 (none) or of hours would
	// otherwise let a silent connection stay for ever.
	MaxIdle time.Duration
	// Write and MinRate bound one packet write: Write plus one second per
	// MinRate bytes. A client that stops reading is disconnected then,
	// instead of holding a broker writer.
	Write   time.Duration
	MinRate int64 // bytes per second
}

// Defaults of ConnTimeouts.
const (
	DefaultConnectTimeout = connectDeadline
	DefaultMaxIdle        = 10 * time.Minute
	DefaultWriteTimeout   = 30 * time.Second
	DefaultMinRate        = 8 << 10
)

func (t ConnTimeouts) withDefaults() ConnTimeouts {
	if t.Connect <= 0 {
		t.Connect = DefaultConnectTimeout
	}
	if t.MaxIdle <= 0 {
		t.MaxIdle = DefaultMaxIdle
	}
	if t.Write <= 0 {
		t.Write = DefaultWriteTimeout
	}
	if t.MinRate <= 0 {
		t.MinRate = DefaultMinRate
	}
	return t
}

// timedConn applies ConnTimeouts to a client connection. The broker sets
// one deadline for reading and writing from the keepalive before each
// packet it reads; timedConn keeps that as the read deadline, capped at
// MaxIdle, and gives every write its own deadline from its size.
type timedConn struct {
	net.Conn
	t ConnTimeouts
}

func newTimedConn(c net.Conn, t ConnTimeouts) *timedConn {
	tc := &timedConn{Conn: c, t: t}
	_ = tc.SetReadDeadline(time.Now().Add(t.Connect))
	return tc
}

// SetDeadline sets the read deadline only: see timedConn.
func (c *timedConn) SetDeadline(d time.Time) error { return c.SetReadDeadline(d) }

func (c *timedConn) SetReadDeadline(d time.Time) error {
	if limit := time.Now().Add(c.t.MaxIdle); d.IsZero() || d.After(limit) {
		d = limit
	}
	return c.Conn.SetReadDeadline(d)
}

// SetWriteDeadline is ignored: each Write sets its own.
func (c *timedConn) SetWriteDeadline(time.Time) error { return nil }

// Write writes p within Write plus the time p takes at MinRate. The broker
// serializes the writes of one client.
func (c *timedConn) Write(p []byte) (int, error) {
	d := c.t.Write + time.Duration(float64(len(p))/float64(c.t.MinRate)*float64(time.Second))
	if err := c.Conn.SetWriteDeadline(time.Now().Add(d)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
