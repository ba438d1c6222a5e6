package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/store"
)

// Broker limits. A slow device holds at most maxInflight unacknowledged
// and maxPending unwritten packets in broker memory; past that its live
// deliveries are skipped and a backlog pass re-sends them from the store.
const (
	maxInflight     = 256
	maxPending      = 256
	packetOverhead  = 64 << 10 // topic and properties around an envelope
	connectDeadline = 30 * time.Second
	verifyTimeout   = 10 * time.Second
)

func (r *Relay) startBroker() error {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(r.lim.MaxEnvelope + packetOverhead)
	caps.MaximumQos = 1                   // QoS 2 adds nothing over a durable QoS 1 with seq dedupe
	caps.RetainAvailable = 0              // nothing is kept in broker memory
	caps.WildcardSubAvailable = 0         // the ACL refuses wildcards anyway
	caps.SharedSubAvailable = 0           // and shared subscriptions
	caps.MaximumSessionExpiryInterval = 0 // the store is the session: see hook.OnConnect
	caps.MaximumInflight = maxInflight
	caps.MaximumClientWritesPending = maxPending
	caps.ReceiveMaximum = maxInflight
	r.broker = mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		InlineClient:           true, // relay-built deliveries and status notices
		Logger:                 newBrokerLogger(r.log),
		SysTopicResendInterval: 3600, // nobody may subscribe to $SYS
	})
	if err := r.broker.AddHook(&hook{r: r}, nil); err != nil {
		return fmt.Errorf("relay: broker hook: %w", err)
	}
	r.ws = &wsListener{id: "ws", disconnect: r.disconnectListener}
	if err := r.broker.AddListener(r.ws); err != nil {
		return fmt.Errorf("relay: websocket listener: %w", err)
	}
	if err := r.broker.Serve(); err != nil {
		return fmt.Errorf("relay: start broker: %w", err)
	}
	return nil
}

// ListenMQTT accepts MQTT over TCP on addr (":0" picks a free port) and
// returns the bound address. It may be called more than once.
func (r *Relay) ListenMQTT(addr string) (net.Addr, error) { return r.ListenMQTTTLS(addr, nil) }

// ListenMQTTTLS is ListenMQTT over TLS with cfg (plain TCP when cfg is nil).
func (r *Relay) ListenMQTTTLS(addr string, cfg *tls.Config) (net.Addr, error) {
	r.mu.RLock()
	closed := r.closed
	r.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("relay: listen: %w", err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return r.ServeMQTT(ln, ConnTimeouts{})
}

// disconnect ends a connection with a reason code (MQTT 5) or by closing
// it (MQTT 3.1.1 has no server DISCONNECT).
func (r *Relay) disconnect(c *conn, code packets.Code) {
	if c.v5 {
		_ = r.broker.DisconnectClient(c.cl, code)
		return
	}
	c.cl.Stop(code)
}

// tokenSweeper verifies every connection's token again each
// Limits.TokenRecheck, so a connection does not outlive its token.
func (r *Relay) tokenSweeper() {
	defer r.bg.Done()
	t := time.NewTicker(r.lim.TokenRecheck)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.recheckTokens()
		}
	}
}

func (r *Relay) recheckTokens() {
	for _, c := range r.conns.all() {
		if c.cl.Closed() {
			r.forget(c.cl)
			continue
		}
		ctx, cancel := context.WithTimeout(r.ctx, verifyTimeout)
		p, err := r.tokens.VerifyToken(ctx, c.token)
		cancel()
		if r.ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrUnavailable) {
			continue // not checked, not found bad: the store is failing
		}
		if err != nil || p.Mailbox != c.device.Mailbox {
			r.log.Info("relay: token no longer valid, disconnecting", "mailbox", c.device.Mailbox)
			r.disconnect(c, packets.ErrNotAuthorized)
		}
	}
}

// forget drops the relay's state of a finished connection.
func (r *Relay) forget(cl *mqtt.Client) {
	if c := r.conns.remove(cl); c != nil {
		c.cancel()
		r.m.connections.Dec()
	}
}

// publishStatus sends a JSON error notice to the device's status topic.
func (r *Relay) publishStatus(mailbox string, payload []byte) {
	if err := r.broker.Publish(proto.StatusTopic(mailbox), payload, false, 1); err != nil {
		r.log.Warn("relay: status notice failed", "error", err)
	}
}

// provided lists the broker events the relay's hook handles.
var provided = []byte{
	mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnDisconnect,
	mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnPublish, mqtt.OnQosComplete, mqtt.OnQosDropped, mqtt.OnPublishDropped,
	mqtt.OnPacketEncode, mqtt.OnPacketSent, mqtt.OnWill,
}

// hook connects the broker to the relay. Authentication, the ACL and
// every publish decision live here.
type hook struct {
	mqtt.HookBase
	r *Relay
}

func (h *hook) ID() string            { return "hush-relay" }
func (h *hook) Provides(b byte) bool  { return bytes.IndexByte(provided, b) >= 0 }
func (h *hook) Init(config any) error { return nil }
func (h *hook) OnWill(cl *mqtt.Client, w mqtt.Will) (mqtt.Will, error) {
	return mqtt.Will{}, nil // wills are stripped at CONNECT; this is the backstop
}
