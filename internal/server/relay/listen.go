package relay

import (
	"fmt"
	"net"

	"github.com/mochi-mqtt/server/v2/listeners"
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
	l := listeners.NewNet(fmt.Sprintf("tcp%d", r.listeners.Add(1)), timedListener{ln, t.withDefaults()})
	if err := r.broker.AddListener(l); err != nil {
		ln.Close()
		return nil, fmt.Errorf("relay: listen: %w", err)
	}
	r.broker.Listeners.Serve(l.ID(), r.broker.EstablishConnection)
	return ln.Addr(), nil
}
