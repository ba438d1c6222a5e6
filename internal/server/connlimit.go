package server

import (
	"log/slog"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hush-chat/hush/internal/server/httpapi"
)

// connLimiter caps the connections one client (httpapi.ClientKey: an IPv4
// address or an IPv6 /64) holds open across the listeners it wraps. A
// connection over the cap is closed as soon as it is accepted, before a
// TLS handshake or a byte is read, and is counted in
// hush_connections_refused_total. Safe for concurrent use.
type connLimiter struct {
	max     int
	refused prometheus.Counter
	warn    *throttledLog

	mu   sync.Mutex
	open map[string]int // guarded by mu; keys with no open connection are removed
}

func newConnLimiter(max int, log *slog.Logger) *connLimiter {
	return &connLimiter{max: max, open: map[string]int{}, warn: newThrottledLog(log, slog.LevelWarn),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hush_connections_refused_total",
			Help: "Connections closed on accept because their client address had max_conns_per_ip open.",
		})}
}

// wrap returns ln with the cap applied; with no cap (max 0) ln itself.
func (l *connLimiter) wrap(ln net.Listener) net.Listener {
	if l.max <= 0 {
		return ln
	}
	return &limitedListener{Listener: ln, l: l}
}

func (l *connLimiter) acquire(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] >= l.max {
		return false
	}
	l.open[key]++
	return true
}

func (l *connLimiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// clients is how many client addresses hold connections.
func (l *connLimiter) clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}

type limitedListener struct {
	net.Listener
	l *connLimiter
}

// Accept returns the next connection within the cap, closing those over
// it.
func (ll *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := httpapi.ClientKey(c.RemoteAddr().String())
		if ll.l.acquire(key) {
			return &limitedConn{Conn: c, release: func() { ll.l.release(key) }}, nil
		}
		c.Close()
		ll.l.refused.Inc()
		ll.l.warn.Log("connection refused: the client has max_conns_per_ip connections open",
			"client", key, "max_conns_per_ip", ll.l.max)
	}
}

// limitedConn gives its slot back when it is closed, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
