package hush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/proto"
)

// transport moves envelopes: to a device's mailbox, and from the own one.
// listen and drain call fn for each incoming envelope in arrival order and
// acknowledge it only when fn returns nil.
type transport interface {
	send(ctx context.Context, mailbox string, env []byte) error
	listen(ctx context.Context, fn func(env []byte) error) error
	drain(ctx context.Context, fn func(env []byte) error) error
	close()
}

// transport returns the profile's transport, creating it on first use.
func (c *Client) transport(ctx context.Context) (transport, error) {
	c.trMu.Lock()
	defer c.trMu.Unlock()
	if c.tr != nil {
		return c.tr, nil
	}
	mailbox := identity.MailboxID(c.id.Public(), c.dev.ID())
	if c.prof.BrokerURL != "" {
		c.tr = &directTransport{broker: c.prof.BrokerURL, mailbox: mailbox}
	} else {
		c.tr = &relayTransport{c: c, mailbox: mailbox}
	}
	return c.tr, nil
}

// relayTransport uses the hush relay: HTTP to send and to fetch what is
// pending, MQTT for live delivery, application acknowledgements after
// the message is stored.
type relayTransport struct {
	c       *Client
	mailbox string

	mu   sync.Mutex         // guards sess; held across a log-in so concurrent callers share one
	sess *apiclient.Session // the current relay login, nil before the first
}

type storedToken struct {
	Token     string `json:"token"`
	Mailbox   string `json:"mailbox"`
	ExpiresAt int64  `json:"expires_at"`
}

// token returns a relay token, reusing the one stored in the profile while
// it has more than a minute left (a log-in costs two round trips).
func (t *relayTransport) token(ctx context.Context, fresh bool) (*apiclient.Session, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.c
	if t.sess != nil && !fresh && time.Until(t.sess.ExpiresAt) > time.Minute {
		return t.sess, nil
	}
	if !fresh {
		var st storedToken
		err := c.st.View(ctx, func(tx *localstore.Tx) error {
			b, err := tx.GetSecret(secretToken)
			if err != nil {
				return err
			}
			return json.Unmarshal(b, &st)
		})
		if err == nil && time.Until(time.Unix(st.ExpiresAt, 0)) > time.Minute && st.Mailbox == t.mailbox {
			t.sess = &apiclient.Session{Token: st.Token, Mailbox: st.Mailbox, ExpiresAt: time.Unix(st.ExpiresAt, 0)}
			return t.sess, nil
		}
	}
	s, err := c.api.Login(ctx, c.prof.Username, c.dev)
	if err != nil {
		return nil, c.ownAccountErr(ctx, serverErr(err))
	}
	t.sess = s
	rec := storedToken{Token: s.Token, Mailbox: s.Mailbox, ExpiresAt: s.ExpiresAt.Unix()}
	err = c.st.Update(ctx, func(tx *localstore.Tx) error { return tx.PutSecret(secretToken, encodeJSON(rec)) })
	return s, err
}

// withToken runs f with a token, logging in again once if the stored one
// was refused.
func (t *relayTransport) withToken(ctx context.Context, f func(s *apiclient.Session) error) error {
	s, err := t.token(ctx, false)
	if err != nil {
		return err
	}
	err = f(s)
	if apiclient.IsCode(err, "unauthorized") {
		if s, err = t.token(ctx, true); err != nil {
			return err
		}
		err = f(s)
	}
	return err
}

func (t *relayTransport) send(ctx context.Context, mailbox string, env []byte) error {
	return t.withToken(ctx, func(s *apiclient.Session) error {
		_, err := t.c.api.Send(ctx, s.Token, mailbox, env)
		return err
	})
}

func (t *relayTransport) drain(ctx context.Context, fn func([]byte) error) error {
	return t.withToken(ctx, func(s *apiclient.Session) error {
		var after int64
		for {
			page, err := t.c.api.Fetch(ctx, s.Token, after, 200)
			if err != nil || len(page) == 0 {
				return err
			}
			var done []int64
			for _, e := range page {
				if err := fn(e.Envelope); err != nil {
					t.ack(ctx, s, done)
					return err
				}
				done = append(done, e.Seq)
				after = e.Seq
			}
			if err := t.ack(ctx, s, done); err != nil {
				return err
			}
		}
	})
}

func (t *relayTransport) ack(ctx context.Context, s *apiclient.Session, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	_, err := t.c.api.Ack(ctx, s.Token, seqs)
	return err
}

// listen connects to the relay's MQTT listener and processes deliveries
// until ctx is done, reconnecting (with a fresh token when needed) after a
// lost connection.
func (t *relayTransport) listen(ctx context.Context, fn func([]byte) error) error {
	mq, err := t.c.mqttURL(ctx)
	if err != nil {
		return err
	}
	var bo backoff
	refusals := 0
	for connected := false; ctx.Err() == nil; {
		s, err := t.token(ctx, false)
		if err != nil {
			return err
		}
		up, delivered, err := t.listenOnce(ctx, mq, s, fn, &connected)
		if ctx.Err() != nil {
			return nil
		}
		// A listener that never got through reports why, rather than
		// retrying silently forever at a wrong address; one that was
		// connected rides out a server restart.
		var ue *UnreachableError
		if !connected && errors.As(err, &ue) {
			return err
		}
		var refused *connackError
		if errors.As(err, &refused) && (refused.code == connackQuotaExceeded || refused.code == connackServerUnavailable) {
			// Too many connections of this device, or a server that cannot
			// check tokens now: not the token's fault. A listener that was
			// connected waits and tries again.
			if !connected {
				return err
			}
		} else if errors.As(err, &refused) {
			// A refusal usually means the token expired: one retry with a
			// fresh one. Refused again before ever connecting, the address
			// is not the relay's broker.
			if refusals++; !connected && refusals > 1 {
				return &UnreachableError{What: "MQTT broker", URL: mq, Err: err}
			}
			if _, err := t.token(ctx, true); err != nil {
				return err
			}
		}
		wait := bo.wait(up, delivered)
		t.c.log.Info("relay connection lost; reconnecting", "broker", mq, "err", err, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

// listenOnce runs one connection to the relay's MQTT listener until ctx
// is done or the connection ends. It reports how long the connection was
// up (0 if it never came up) and whether it delivered anything, for the
// reconnect policy. It sets *connected once the subscription holds.
func (t *relayTransport) listenOnce(ctx context.Context, mq string, s *apiclient.Session, fn func([]byte) error, connected *bool) (time.Duration, bool, error) {
	failed := make(chan error, 1)
	var delivered atomic.Bool
	// onMsg may run before dialMQTT returns: it uses the client paho hands
	// it, never a variable assigned after the dial.
	onMsg := func(pr paho.PublishReceived) (bool, error) {
		seq, env, err := proto.DecodeDelivery(pr.Packet.Payload)
		if err != nil {
			return true, nil // not a delivery frame: nothing to acknowledge
		}
		if err := fn(env); err != nil {
			select {
			case failed <- err:
			default:
			}
			return true, nil
		}
		delivered.Store(true)
		if frame, err := proto.EncodeAck([]int64{seq}); err == nil {
			go pr.Client.Publish(context.WithoutCancel(ctx), &paho.Publish{Topic: proto.AckTopic(s.Mailbox), QoS: 1, Payload: frame})
		}
		return true, nil
	}
	cl, err := dialMQTT(ctx, mq, mqttLogin{user: s.Mailbox, pass: s.Token, clientID: s.Mailbox, clean: true}, onMsg)
	if err != nil {
		return 0, false, err
	}
	defer cl.Disconnect(&paho.Disconnect{})
	if _, err := cl.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: proto.InboxTopic(s.Mailbox), QoS: 1}}}); err != nil {
		return 0, delivered.Load(), err
	}
	*connected = true
	t.c.kickOutbox() // the relay answers again: retry what waits
	upAt := time.Now()
	select {
	case <-ctx.Done():
		err = nil
	case <-cl.Done():
		err = errors.New("connection to the relay lost")
	case err = <-failed:
	}
	return time.Since(upAt), delivered.Load(), err
}

// mqttURL asks the server where its MQTT listener is: the host of the
// server URL with the MQTT port from the configuration, or the
// HUSH_MQTT_URL override.
func (c *Client) mqttURL(ctx context.Context) (string, error) {
	if c.prof.MQTTURL != "" {
		return c.prof.MQTTURL, nil
	}
	info, err := c.api.ServerInfo(ctx)
	if err != nil {
		return "", serverErr(err)
	}
	return info.MQTTURL, nil
}

type mqttLogin struct {
	user, pass, clientID string
	clean                bool
	sessionExpiry        uint32
	manualAck            bool
	sessionPresent       *bool // set from the CONNACK when not nil
}

// connackError is a refused MQTT connection.
type connackError struct{ code byte }

// connackQuotaExceeded is the relay's refusal of a device holding as many
// MQTT connections as the server allows.
const connackQuotaExceeded = 0x97

// connackServerUnavailable is the relay's refusal while its store cannot
// check the token (it comes back by itself).
const connackServerUnavailable = 0x88

func (e *connackError) Error() string {
	if e.code == connackQuotaExceeded {
		return "the relay refused the connection: this device already has as many connections open as the server allows (reason 0x97); close other programs using this profile and try again"
	}
	if e.code == connackServerUnavailable {
		return "the relay is temporarily unavailable (reason 0x88): try again in a minute; messages you send meanwhile wait in the outbox"
	}
	return fmt.Sprintf("the broker refused the login (reason 0x%02x)", e.code)
}

// dialMQTT connects an MQTT 5 client to mqtt://host:port, mqtts://, or
// ws://host:port/path and wss:// (MQTT over WebSocket).
func dialMQTT(ctx context.Context, raw string, l mqttLogin, onMsg func(paho.PublishReceived) (bool, error)) (*paho.Client, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bad MQTT URL %q", raw)
	}
	conn, err := dialBroker(ctx, u)
	if err != nil {
		return nil, &UnreachableError{What: "MQTT broker", URL: raw, Err: err}
	}
	// paho writes a packet as several Writes (header, then its parts) and
	// from several goroutines (publishes, pings, acks): it locks a Conn
	// that is a sync.Locker around each packet. Without it, over TLS or a
	// WebSocket, a ping could land inside a publish.
	cfg := paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn), EnableManualAcknowledgment: l.manualAck}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onMsg}
	}
	cl := paho.NewClient(cfg)
	cp := &paho.Connect{ClientID: l.clientID, KeepAlive: 30, CleanStart: l.clean}
	if l.user != "" {
		cp.Username, cp.UsernameFlag = l.user, true
	}
	if l.pass != "" {
		cp.Password, cp.PasswordFlag = []byte(l.pass), true
	}
	if l.sessionExpiry > 0 {
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &l.sessionExpiry}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ca, err := cl.Connect(cctx, cp)
	if ca != nil && ca.ReasonCode != 0 {
		conn.Close()
		return nil, &connackError{code: ca.ReasonCode}
	}
	if err != nil {
		conn.Close()
		return nil, &UnreachableError{What: "MQTT broker", URL: raw, Err: err}
	}
	if l.sessionPresent != nil {
		*l.sessionPresent = ca.SessionPresent
	}
	return cl, nil
}

func (t *relayTransport) close() {}

// ownAccountErr turns a relay login refused for an unknown user or device
// into ErrAccountDeleted when the directory confirms that the profile's
// own account is gone.
func (c *Client) ownAccountErr(ctx context.Context, err error) error {
	if !apiclient.IsCode(err, "unknown_device") && !apiclient.IsCode(err, "unknown_user") {
		return err
	}
	a, lerr := c.api.Lookup(ctx, c.prof.Username)
	if lerr != nil {
		return err
	}
	u, uerr := a.User(c.prof.Username)
	if errors.Is(uerr, proto.ErrNoSuchUser) || (uerr == nil && u.State == proto.StateDeleted) {
		return &AccountDeletedError{Username: c.prof.Username}
	}
	if uerr == nil && apiclient.IsCode(err, "unknown_device") {
		return ErrDeviceRemoved
	}
	return err
}
