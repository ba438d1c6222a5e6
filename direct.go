package hush

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hush-chat/hush/internal/proto"
)

// Direct mode (doc/DIRECT.md): envelopes travel through any plain MQTT
// broker. The inbox topic is the same as on the relay; the payload is the
// sealed envelope itself. What is weaker than with the relay: offline
// messages last only as long as the broker keeps the device's persistent
// session and its queue (Mosquitto: max_queued_messages, 1000 by default);
// anyone who can reach the broker may publish to any inbox, so the client
// drops what does not open; there is no server-side rate limit or quota.
const (
	// directSessionExpiry is how long the broker should keep an offline
	// device's session and queued messages (seconds).
	directSessionExpiry = 30 * 24 * 3600
	// directQuiet is how long drain waits without a message before it
	// decides the queue is empty.
	directQuiet = 500 * time.Millisecond
)

type directTransport struct {
	broker  string
	mailbox string
}

func (t *directTransport) send(ctx context.Context, mailbox string, env []byte) error {
	var id [8]byte
	rand.Read(id[:])
	cl, err := dialMQTT(ctx, t.broker, mqttLogin{clientID: "hush-send-" + hex.EncodeToString(id[:]), clean: true}, nil)
	if err != nil {
		return err
	}
	defer cl.Disconnect(&paho.Disconnect{})
	resp, err := cl.Publish(ctx, &paho.Publish{Topic: proto.InboxTopic(mailbox), QoS: 1, Payload: env})
	if err != nil {
		return err
	}
	if resp != nil && resp.ReasonCode >= 0x80 {
		return &connackError{code: resp.ReasonCode}
	}
	return nil
}

// session connects with a persistent session keyed by the mailbox, so the
// broker queues QoS 1 messages while the device is away, and acknowledges
// each message only after fn stored it (manual acknowledgement).
func (t *directTransport) session(ctx context.Context, fn func([]byte) error, activity chan<- struct{}) (*paho.Client, chan error, error) {
	failed := make(chan error, 1)
	// The broker resends a kept session's queue right after the CONNACK,
	// so onMsg may run before dialMQTT returns: it acknowledges through
	// the client paho hands it, never a variable assigned after the dial.
	onMsg := func(pr paho.PublishReceived) (bool, error) {
		if activity != nil {
			select {
			case activity <- struct{}{}:
			default:
			}
		}
		if err := fn(pr.Packet.Payload); err != nil {
			select {
			case failed <- err:
			default:
			}
			return true, nil // not acknowledged: the broker sends it again next session
		}
		_ = pr.Client.Ack(pr.Packet)
		return true, nil
	}
	var present bool
	cl, err := dialMQTT(ctx, t.broker, mqttLogin{clientID: "hush-" + t.mailbox, clean: false,
		sessionExpiry: directSessionExpiry, manualAck: true, sessionPresent: &present}, onMsg)
	if err != nil {
		return nil, nil, err
	}
	if present {
		// The broker kept the session, subscription included; some brokers
		// refuse a second SUBSCRIBE while they resend queued messages.
		return cl, failed, nil
	}
	if sa, err := cl.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: proto.InboxTopic(t.mailbox), QoS: 1}}}); err != nil {
		cl.Disconnect(&paho.Disconnect{})
		if sa != nil {
			return nil, nil, fmt.Errorf("broker refused the inbox subscription (reasons %x): %w", sa.Reasons, err)
		}
		return nil, nil, err
	}
	return cl, failed, nil
}

func (t *directTransport) listen(ctx context.Context, fn func([]byte) error) error {
	var bo backoff
	for connected := false; ctx.Err() == nil; {
		var delivered atomic.Bool
		counted := func(env []byte) error {
			err := fn(env)
			if err == nil {
				delivered.Store(true)
			}
			return err
		}
		var up time.Duration
		cl, failed, err := t.session(ctx, counted, nil)
		var ue *UnreachableError
		var refused *connackError
		if !connected && errors.As(err, &ue) && ctx.Err() == nil {
			return err // never got through: say why instead of retrying silently
		}
		if !connected && errors.As(err, &refused) && ctx.Err() == nil {
			return &UnreachableError{What: "MQTT broker", URL: t.broker, Err: err}
		}
		if err == nil {
			connected = true
			upAt := time.Now()
			select {
			case <-ctx.Done():
			case <-cl.Done():
			case <-failed:
			}
			up = time.Since(upAt)
			cl.Disconnect(&paho.Disconnect{})
		}
		select {
		case <-ctx.Done():
		case <-time.After(bo.wait(up, delivered.Load())):
		}
	}
	return nil
}

// drain processes the session's queue and returns once the broker has
// been quiet for directQuiet while no message was being processed: the
// quiet period counts from the end of the last message's processing, so
// a slow message does not end the drain with the rest of the queue unread
// and its own acknowledgement unsent.
func (t *directTransport) drain(ctx context.Context, fn func([]byte) error) error {
	activity := make(chan struct{}, 1)
	var busy atomic.Int32
	counted := func(env []byte) error {
		busy.Add(1)
		defer func() {
			busy.Add(-1)
			select {
			case activity <- struct{}{}:
			default:
			}
		}()
		return fn(env)
	}
	cl, failed, err := t.session(ctx, counted, activity)
	if err != nil {
		return err
	}
	defer cl.Disconnect(&paho.Disconnect{})
	quiet := time.NewTimer(directQuiet)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return err
		case <-activity:
			quiet.Reset(directQuiet)
		case <-quiet.C:
			if busy.Load() == 0 {
				settle(ctx, cl, t.mailbox)
				return nil
			}
			quiet.Reset(directQuiet)
		}
	}
}

func (t *directTransport) close() {}

// settle makes one round trip to the broker before a drain disconnects. A
// broker reads a connection's packets in order, so once it answers, it
// has taken every acknowledgement sent before: a session resumed right
// after is not handed those messages again (a busy broker otherwise
// passes the still-unacknowledged queue to the next connection). The
// round trip unsubscribes from a topic the device never subscribed to;
// its answer, whatever its reason code, is all that counts.
func settle(ctx context.Context, cl *paho.Client, mailbox string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, _ = cl.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{proto.InboxTopic(mailbox) + "/settle"}})
}
