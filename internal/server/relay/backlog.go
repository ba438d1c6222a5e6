package relay

import (
	"errors"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hush-chat/hush/internal/proto"
)

// Backlog: when a device subscribes to its inbox, every stored envelope is
// pushed to that connection in sequence order, a page at a time, with at
// most backlogWindow QoS 1 frames awaiting their PUBACK. While a pass runs
// (and from the moment the subscription is being made), live deliveries
// to that connection wait: the pass goes on with what was stored after it
// began, so the device receives its mailbox in sequence order. A pass
// started because frames were dropped re-sends from the oldest stored
// envelope, so an envelope may then arrive twice; the device dedupes.
const (
	backlogPage      = 100
	maxBacklogWindow = 32
)

// backlogWindow keeps backlog frames within half of an MQTT 5 client's
// Receive Maximum, leaving the rest for live deliveries.
func backlogWindow(cl *mqtt.Client) int {
	w := maxBacklogWindow
	if rm := int(cl.Properties.Props.ReceiveMaximum); rm > 0 {
		w = min(w, max(1, rm/2))
	}
	return w
}

// catchUp starts a backlog pass for c if it is subscribed to its inbox,
// or schedules another one if a pass is already running (it may have read
// its page before the envelope that needs re-sending was stored).
func (r *Relay) catchUp(c *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restart = true // frames may have been lost: from the oldest again
	r.startPass(c)
}

// startPass runs a backlog pass, or another one after the running one.
// c.mu is held.
func (r *Relay) startPass(c *conn) {
	if !c.subscribed || c.ctx.Err() != nil {
		return
	}
	if c.backlogRun {
		c.backlogAgain = true
		return
	}
	c.backlogRun, c.holdLive = true, true
	r.m.backlogPasses.Inc()
	r.bg.Add(1)
	go r.runBacklog(c)
}

func (r *Relay) runBacklog(c *conn) {
	defer r.bg.Done()
	for {
		c.mu.Lock()
		from := c.pushedTo
		if c.restart {
			from, c.restart = 0, false
		}
		c.mu.Unlock()
		last, err := r.pushBacklog(c, from)
		c.mu.Lock()
		c.pushedTo = max(c.pushedTo, last)
		again := c.backlogAgain && err == nil
		c.backlogAgain = false
		c.backlogRun = again
		c.holdLive = again // live deliveries flow again once nothing is left behind
		c.mu.Unlock()
		if !again {
			if err != nil && c.ctx.Err() == nil {
				r.log.Warn("relay: backlog push stopped", "error", err, "mailbox", c.device.Mailbox)
			}
			return
		}
	}
}

// pushBacklog sends every stored envelope of c's mailbox after sequence
// number from once, and returns the last sequence number it sent.
func (r *Relay) pushBacklog(c *conn, from int64) (int64, error) {
	c.mu.Lock()
	qos := min(c.subQos, 1)
	c.mu.Unlock()
	after := from
	for {
		page, err := r.st.PendingEnvelopes(c.ctx, c.device.Mailbox, after, backlogPage)
		if err != nil {
			return after, err
		}
		for _, e := range page {
			if err := r.sendFrame(c, qos, e.Seq, e.Data); err != nil {
				return after, err
			}
			after = e.Seq
		}
		if len(page) < backlogPage {
			return after, nil
		}
	}
}

var errGone = errors.New("relay: connection ended")

// sendFrame writes one delivery frame to c's connection. A QoS 1 frame is
// registered with the broker's in-flight store, so the device's PUBACK is
// processed as for any other delivery and frees the window slot.
func (r *Relay) sendFrame(c *conn, qos byte, seq int64, env []byte) error {
	cl := c.cl
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   proto.InboxTopic(c.device.Mailbox),
		Payload:     proto.EncodeDelivery(seq, env),
		Created:     time.Now().Unix(), // broker bookkeeping runs on the wall clock
	}
	if qos > 0 {
		select {
		case c.window <- struct{}{}:
		case <-c.ctx.Done():
			return errGone
		}
		id, err := cl.NextPacketID()
		if err != nil {
			<-c.window
			return err
		}
		pk.PacketID = uint16(id)
		c.take(pk.PacketID)
		if cl.State.Inflight.Set(pk) {
			atomic.AddInt64(&r.broker.Info.Inflight, 1)
		}
		cl.State.Inflight.DecreaseSendQuota()
	}
	err := cl.WritePacket(pk)
	if errors.Is(err, packets.ErrPacketTooLarge) {
		// Over the client's own Maximum Packet Size: it can never take
		// this envelope over MQTT (it can over HTTP). Skip it.
		r.log.Warn("relay: envelope over the client's maximum packet size", "mailbox", c.device.Mailbox, "seq", seq)
		if qos > 0 && cl.State.Inflight.Delete(pk.PacketID) {
			atomic.AddInt64(&r.broker.Info.Inflight, -1)
			cl.State.Inflight.IncreaseSendQuota()
			c.release(pk.PacketID)
		}
		return nil
	}
	if err != nil {
		return errGone
	}
	return nil
}
