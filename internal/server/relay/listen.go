package relay

import (
	"fmt"
	"net"
)

// ServeMQTT accepts MQTT connections from ln (a TCP listener, possibly
// wrapped: TLS, a per-client connection cap) with the timeouts t, in the
// background, and returns ln's address. The relay closes ln when it
// closes.
func (r *Relay) ServeMQTT(ln net.Listener, t ConnTimeouts) (net.Addr, error) {
	r.mu.RLock()
	closed := r.closed
	r.mu.RUnlock()
	if closed {
		ln.Close()
		return nil, ErrClosed
	}
	l := &tcpListener{id: fmt.Sprintf("tcp%d", r.listeners.Add(1)), ln: ln, t: t.withDefaults(), log: r.log, disconnect: r.disconnectListener}
	if err := r.broker.AddListener(l); err != nil {
		ln.Close()
		return nil, fmt.Errorf("relay: listen: %w", err)
	}
	r.broker.Listeners.Serve(l.ID(), r.broker.EstablishConnection)
	return ln.Addr(), nil
}
