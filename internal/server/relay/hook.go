package relay

import (
	"context"
	"errors"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/store"
)

// errAuth and errTooManyConns refuse a CONNECT; the CONNACK has already
// been written.
var (
	errAuth         = errors.New("relay: bad credentials")
	errTooManyConns = errors.New("relay: too many connections for this device")
)

// OnConnect authenticates a CONNECT: username = the device's mailbox id,
// password = a bearer token whose device owns that mailbox. A refusal is
// answered with CONNACK "not authorized" (MQTT 5 0x87, MQTT 3.1.1 return
// code 5). A device at Limits.MaxConnsPerDevice is refused with "quota
// exceeded" (MQTT 5 0x97; MQTT 3.1.1 has no such code: return code 3,
// server unavailable, which clients retry later).
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	r := h.r
	c, err := r.authenticate(cl, pk)
	if errors.Is(err, store.ErrUnavailable) {
		// The token could not be checked: the client should retry, not
		// log in again against a store that cannot answer that either.
		r.m.rejects.WithLabelValues(reasonUnavailable).Inc()
		r.log.Warn("relay: MQTT connection refused, store unavailable", "err", err)
		_ = r.broker.SendConnack(cl, packets.ErrServerUnavailable, false, nil) // 3.1.1: return code 3
		return err
	}
	if c == nil {
		r.m.rejects.WithLabelValues(reasonBadCredentials).Inc()
		code := packets.ErrNotAuthorized
		if cl.Properties.ProtocolVersion < 5 {
			code = packets.ErrBadUsernameOrPassword // the broker maps it to 3.1.1 code 5, not authorized
		}
		_ = r.broker.SendConnack(cl, code, false, nil)
		return errAuth
	}
	// No will: nothing may be published on a device's behalf after it
	// has gone.
	cl.Properties.Will = mqtt.Will{}
	// The store is the session: broker sessions end with the connection
	// (MQTT 5 gets session expiry 0 in its CONNACK), so nothing piles up
	// in broker memory for an absent device.
	cl.Properties.Clean = true
	// Security: client ids are namespaced by mailbox, so a device cannot
	// take over (and inherit the subscriptions of) another device's
	// session by reusing its client id.
	cl.ID = c.device.Mailbox + "/" + cl.ID
	if !r.conns.add(c, r.lim.MaxConnsPerDevice) {
		c.cancel()
		r.m.rejects.WithLabelValues(reasonTooManyConns).Inc()
		code := packets.ErrQuotaExceeded
		if cl.Properties.ProtocolVersion < 5 {
			code = packets.ErrServerUnavailable // the broker maps it to 3.1.1 code 3
		}
		_ = r.broker.SendConnack(cl, code, false, nil)
		return errTooManyConns
	}
	r.m.connections.Inc()
	return nil
}

// authenticate checks a CONNECT's credentials and returns the new
// connection's state, or nil. The error is set only when the token could
// not be checked (store.ErrUnavailable).
func (r *Relay) authenticate(cl *mqtt.Client, pk packets.Packet) (*conn, error) {
	user, tok := string(pk.Connect.Username), string(pk.Connect.Password)
	if !pk.Connect.UsernameFlag || !pk.Connect.PasswordFlag || !proto.ValidMailbox(user) || tok == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, verifyTimeout)
	p, err := r.tokens.VerifyToken(ctx, tok)
	cancel()
	if errors.Is(err, store.ErrUnavailable) {
		return nil, err
	}
	if err != nil || p.Mailbox != user {
		return nil, nil
	}
	ctx, cancel = context.WithCancel(r.ctx)
	return &conn{
		cl: cl, device: p, token: tok, v5: cl.Properties.ProtocolVersion == 5,
		ctx: ctx, cancel: cancel,
		window: make(chan struct{}, backlogWindow(cl)), outstanding: map[uint16]struct{}{},
	}, nil
}

// OnConnectAuthenticate admits exactly the clients OnConnect authenticated.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	return h.r.conns.get(cl) != nil
}

func (h *hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.r.forget(cl)
}

// OnACLCheck: a device may subscribe to, and be delivered, exactly its own
// inbox and status topics — no wildcard, no other device's topic.
// Publishes are authorized in OnPublish instead, which can answer an MQTT
// 3.1.1 client with a status notice where the broker would disconnect it.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	c := h.r.conns.get(cl)
	if c == nil {
		return false
	}
	if write {
		return true
	}
	mb := c.device.Mailbox
	return topic == proto.InboxTopic(mb) || topic == proto.StatusTopic(mb)
}

// OnSubscribed starts pushing the stored backlog when a device subscribes
// to its inbox.
// OnSubscribe holds live deliveries to a connection that is subscribing
// to its inbox until the backlog pass that OnSubscribed starts has sent
// what was stored before them.
func (h *hook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	c := h.r.conns.get(cl)
	if c == nil {
		return pk
	}
	for _, f := range pk.Filters {
		if f.Filter == proto.InboxTopic(c.device.Mailbox) {
			c.deliverMu.Lock()
			c.mu.Lock()
			c.holdLive = true
			c.mu.Unlock()
			c.deliverMu.Unlock()
		}
	}
	return pk
}

func (h *hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	c := h.r.conns.get(cl)
	if c == nil {
		return
	}
	for i, f := range pk.Filters {
		if f.Filter != proto.InboxTopic(c.device.Mailbox) {
			continue
		}
		c.mu.Lock()
		if i < len(codes) && codes[i] < 0x80 {
			c.subscribed, c.subQos = true, codes[i]
			c.restart = true
			h.r.startPass(c)
		} else if !c.backlogRun {
			c.holdLive = false // refused: nothing to hold for
		}
		c.mu.Unlock()
	}
}

// OnQosComplete frees the backlog window slot of an acknowledged frame.
func (h *hook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if c := h.r.conns.get(cl); c != nil {
		c.release(pk.PacketID)
	}
}

// OnQosDropped frees the window slot of a frame the broker gave up on.
func (h *hook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	h.OnQosComplete(cl, pk)
}

// OnPublishDropped: the broker's write queue for a slow device was full.
// The envelope is stored; a backlog pass re-sends it.
func (h *hook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	if c := h.r.conns.get(cl); c != nil && strings.HasPrefix(pk.TopicName, proto.InboxPrefix) {
		h.r.catchUp(c)
	}
}

// OnPacketEncode advertises in an MQTT 5 CONNACK what the relay refuses,
// so well-behaved clients do not try: packets over the size limit,
// retained messages, wildcard and shared subscriptions.
func (h *hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Connack || pk.ProtocolVersion != 5 || pk.ReasonCode >= 0x80 {
		return pk
	}
	p := &pk.Properties
	p.MaximumPacketSize = uint32(h.r.lim.MaxEnvelope + packetOverhead)
	p.RetainAvailable, p.RetainAvailableFlag = 0, true
	p.WildcardSubAvailable, p.WildcardSubAvailableFlag = 0, true
	p.SharedSubAvailable, p.SharedSubAvailableFlag = 0, true
	return pk
}

// OnPacketSent counts delivery frames written to devices.
func (h *hook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, b []byte) {
	if pk.FixedHeader.Type == packets.Publish && !strings.HasPrefix(pk.TopicName, proto.StatusPrefix) {
		h.r.m.delivered.Inc()
		h.r.m.deliveredBytes.Add(float64(len(b)))
	}
}
