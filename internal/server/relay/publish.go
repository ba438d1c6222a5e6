package relay

import (
	"context"
	"encoding/json"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hush-chat/hush/internal/proto"
)

// StatusNotice is the JSON body the relay publishes to a device's status
// topic when it refuses a publish that has no PUBACK to carry the reason
// (MQTT 3.1.1, or QoS 0).
type StatusNotice struct {
	Code     string `json:"code"`      // as the HTTP error codes: "mailbox_full", …
	Message  string `json:"message"`   // for people
	Topic    string `json:"topic"`     // the refused publish's topic
	PacketID uint16 `json:"packet_id"` // the refused publish's packet id (0 for QoS 0)
}

// OnPublish decides every client publish. It runs before the broker
// writes the PUBACK, so an envelope is durable before it is acknowledged.
//
// An accepted envelope is delivered by Submit as a packet the relay builds
// (delivery frame, QoS 1, no properties of the sender's packet), and the
// sender's own packet is marked "ignore": the broker acknowledges it but
// routes nothing. A refusal is an MQTT 5 PUBACK reason code, or, when
// there is no PUBACK (MQTT 3.1.1, QoS 0), no acknowledgement plus a
// status notice.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // the relay's own deliveries and notices
	}
	r := h.r
	c := r.conns.get(cl)
	if c == nil {
		return pk, packets.ErrRejectPacket
	}
	var err error
	switch topic := pk.TopicName; {
	case strings.HasPrefix(topic, proto.InboxPrefix):
		err = h.publishEnvelope(c, strings.TrimPrefix(topic, proto.InboxPrefix), pk.Payload)
	case topic == proto.AckTopic(c.device.Mailbox):
		err = h.publishAck(c, pk.Payload)
	default:
		err = ErrNotAuthorized
		r.m.reject(rejNotAuthorized)
	}
	if err == nil {
		return pk, packets.CodeSuccessIgnore
	}
	rj := classify(err)
	if c.v5 && pk.FixedHeader.Qos > 0 {
		return pk, packets.Code{Code: rj.reason, Reason: rj.message}
	}
	notice, _ := json.Marshal(StatusNotice{Code: rj.code, Message: rj.message, Topic: pk.TopicName, PacketID: pk.PacketID})
	r.publishStatus(c.device.Mailbox, notice)
	return pk, packets.ErrRejectPacket
}

// publishEnvelope rate-limits and submits one envelope. Rejections are
// counted by Submit, or here for the rate limit.
func (h *hook) publishEnvelope(c *conn, mailbox string, env []byte) error {
	r := h.r
	if !r.sends.allow(c.device, r.now()) {
		r.m.reject(rejRate)
		return ErrRateLimited
	}
	ctx, cancel := context.WithTimeout(c.ctx, commitTimeout)
	defer cancel()
	_, err := r.SubmitFrom(ctx, c.device.Username, mailbox, env)
	return err
}

// publishAck deletes the acknowledged envelopes of the publishing
// device's own mailbox: the mailbox comes from the authenticated
// connection, never from the frame, so a device cannot delete another's
// envelopes.
func (h *hook) publishAck(c *conn, frame []byte) error {
	r := h.r
	seqs, err := proto.DecodeAck(frame)
	if err != nil {
		r.m.reject(rejBadAck)
		return err
	}
	ctx, cancel := context.WithTimeout(c.ctx, commitTimeout)
	defer cancel()
	n, err := r.st.AckEnvelopes(ctx, c.device.Mailbox, seqs)
	if err != nil {
		r.log.Error("relay: ack failed", "error", err)
		r.m.reject(rejInternal)
		return err
	}
	r.m.acked.Add(float64(n))
	return nil
}
