package relay

import (
	"log/slog"
	"net"
	"sync"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// connSet is the connections one listener handed to the broker, so that
// closing the listener closes them. The broker's own listeners instead
// ask it to close their clients (closeListenerClients), which takes the
// client table's read lock twice; a client attaching at that moment waits
// for the write lock between the two, and all three wait forever (seen
// when the relay closed while clients reconnected). Closing the
// connections ends each client's read loop, and the broker lets go of it
// as of any dropped client.
type connSet struct {
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

// add records c, or reports false once the set is closed.
func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[net.Conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *connSet) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// closeAll refuses further connections and closes the current ones.
func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

// establish hands c to the broker under listener id and forgets it when
// the client is gone. A set that is closing closes c at once.
func (s *connSet) establish(id string, c net.Conn, fn listeners.EstablishFn, log *slog.Logger) {
	if !s.add(c) {
		_ = c.Close()
		return
	}
	defer s.remove(c)
	if err := fn(id, c); err != nil {
		log.Debug("relay: client ended", "listener", id, "error", err)
	}
	_ = c.Close()
}

// disconnectListener tells the clients of listener id that the server is
// shutting down (an MQTT 5 DISCONNECT with that reason) and drops them:
// what the broker's closeListenerClients does, without its double read
// lock (connSet).
func (r *Relay) disconnectListener(id string) {
	for _, cl := range r.broker.Clients.GetAll() {
		if cl.Net.Listener == id && !cl.Closed() {
			_ = r.broker.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

// tcpListener accepts MQTT connections from a net.Listener, each with the
// relay's connection timeouts.
type tcpListener struct {
	id         string
	ln         net.Listener
	t          ConnTimeouts
	log        *slog.Logger
	disconnect func(id string) // Relay.disconnectListener
	conns      connSet
}

func (l *tcpListener) ID() string                  { return l.id }
func (l *tcpListener) Address() string             { return l.ln.Addr().String() }
func (l *tcpListener) Protocol() string            { return "tcp" }
func (l *tcpListener) Init(log *slog.Logger) error { l.log = log; return nil }

func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return // closed
		}
		go l.conns.establish(l.id, newTimedConn(c, l.t), establish, l.log)
	}
}

func (l *tcpListener) Close(listeners.CloseFn) {
	_ = l.ln.Close()
	l.disconnect(l.id)
	l.conns.closeAll()
}
