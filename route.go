package hush

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/proto"
)

// Routes: each recipient device receives either through the relay or, in
// direct mode, through the MQTT broker it published in the directory
// (doc/API.md §2.2). The outbox delivers each device's envelope the way
// that device receives, whatever this client's own mode: a relay client
// publishes to a direct device's broker as a direct client would (QoS 1,
// a fresh connection), and a direct client uploads to a relay device's
// mailbox through the relay, where its account logs in like any device.
// Mixing is sound because the envelope is the same bytes either way: the
// relay stores and forwards it, a broker queues it on the inbox topic, and
// the recipient opens both alike.

// deviceRoute is how one recipient device receives, as its contact record
// last said. It is comparable: routes key maps.
type deviceRoute struct {
	// known is false for a device whose record predates delivery modes, or
	// a mailbox of no contact: the client's own transport is used, as it
	// always was.
	known  bool
	broker string // "" for the relay
}

// routeTransports holds the transports for routes other than the own one.
type routeTransports struct {
	mu      sync.Mutex
	relay   *relayTransport // a direct-mode client's way into the relay; guarded by mu
	checked bool            // maintainDelivery found the directory current; guarded by mu
}

// routeError is a failure on a route other than the client's own
// transport: it keeps the recipient and route for the reason shown.
type routeError struct {
	user   string
	broker string // "" for the relay
	err    error
}

func (e *routeError) Error() string {
	if e.broker == "" {
		return fmt.Sprintf("relay for %s: %v", e.user, e.err)
	}
	return fmt.Sprintf("broker %s of %s: %v", e.broker, e.user, e.err)
}

func (e *routeError) Unwrap() error { return e.err }

// describe is the reason a user reads, or "" when the inner error says it
// better (an answer of the relay).
func (e *routeError) describe() string {
	var ae *apiclient.Error
	if errors.As(e.err, &ae) {
		return ""
	}
	if e.broker == "" {
		return fmt.Sprintf("cannot reach the server's relay, where %s receives (%v)", e.user, e.err)
	}
	return fmt.Sprintf("cannot reach %s's MQTT broker %s (%s receives in direct mode): %v", e.user, e.broker, e.user, e.err)
}

// publishedBroker is what the directory is told about a broker URL: the
// scheme and host only. Credentials in the profile's URL stay private
// (senders publish anonymously anyway), and tcp:// and ssl:// read as
// mqtt:// and mqtts://.
func publishedBroker(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("broker URL %q: %w", raw, err)
	}
	scheme := u.Scheme
	switch scheme {
	case "tcp":
		scheme = "mqtt"
	case "ssl", "tls":
		scheme = "mqtts"
	}
	pub := (&url.URL{Scheme: scheme, Host: u.Host}).String()
	if scheme == "ws" || scheme == "wss" {
		pub = (&url.URL{Scheme: scheme, Host: u.Host, Path: u.Path}).String()
	}
	if err := proto.CheckBroker(pub); err != nil {
		return "", fmt.Errorf("broker URL %q cannot be published: %w", raw, err)
	}
	return pub, nil
}

// publishDelivery tells the directory how this device receives from now
// on: through broker (direct mode), or through the relay when broker is
// empty. Senders route by it, so a mode switch that the directory did not
// take must not happen locally either.
func (c *Client) publishDelivery(ctx context.Context, broker string) error {
	pub := ""
	if broker != "" {
		var err error
		if pub, err = publishedBroker(broker); err != nil {
			return err
		}
		// As at init: a plain broker queues only for a session that exists,
		// so open the device's persistent session before senders are sent
		// there. This also proves the broker answers.
		t := &directTransport{broker: broker, mailbox: identity.MailboxID(c.id.Public(), c.dev.ID())}
		cl, _, err := t.session(ctx, func([]byte) error { return errors.New("switching mode") }, nil)
		if err != nil {
			return fmt.Errorf("the broker did not answer, nothing changed: %w", err)
		}
		cl.Disconnect(&paho.Disconnect{})
	}
	if err := c.api.SetDelivery(ctx, c.prof.Username, c.id, c.dev.ID(), pub); err != nil {
		return fmt.Errorf("the directory did not record the new delivery mode, nothing changed: %w", serverErr(err))
	}
	return nil
}

// maintainDelivery checks, once per Client, that the directory says this
// device receives the way the profile does, and tells it otherwise. A
// direct-mode device registered before delivery modes is listed as a
// relay device until it does; so is one whose mode switch was stored
// locally but never reached the directory.
func (c *Client) maintainDelivery(ctx context.Context) error {
	c.routes.mu.Lock()
	checked := c.routes.checked
	c.routes.mu.Unlock()
	if checked {
		return nil
	}
	want := ""
	if c.prof.BrokerURL != "" {
		var err error
		if want, err = publishedBroker(c.prof.BrokerURL); err != nil {
			return err
		}
	}
	u, err := c.lookup(ctx, c.prof.Username)
	if err != nil {
		return err
	}
	for _, d := range u.Devices {
		if d.ID == c.dev.ID() && d.Broker != want {
			if err := c.publishDelivery(ctx, c.prof.BrokerURL); err != nil {
				return err
			}
		}
	}
	c.routes.mu.Lock()
	c.routes.checked = true
	c.routes.mu.Unlock()
	return nil
}

// deliveryOf is a verified directory device's route as a contact stores it.
func deliveryOf(d proto.Device) (delivery, broker string) {
	if d.Broker == "" {
		return proto.DeliveryRelay, ""
	}
	return proto.DeliveryDirect, d.Broker
}

// routeOf is the route of the device of rec living at mailbox.
func routeOf(rec *contactRecord, mailbox string) deviceRoute {
	if rec == nil {
		return deviceRoute{}
	}
	for _, d := range rec.Devices {
		if d.Mailbox != mailbox {
			continue
		}
		switch d.Delivery {
		case proto.DeliveryRelay:
			return deviceRoute{known: true}
		case proto.DeliveryDirect:
			return deviceRoute{known: true, broker: d.Broker}
		}
	}
	return deviceRoute{}
}

// splitByRoute looks up the route of every mailbox of r and splits each
// upload whose mailboxes receive in different ways into one upload per
// route (same envelope, the order of mailboxes kept). It returns the
// route of each mailbox.
func (c *Client) splitByRoute(ctx context.Context, r *outboxRecord) (map[string]deviceRoute, error) {
	routes := map[string]deviceRoute{}
	contacts := map[string]*contactRecord{}
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		for _, s := range r.Sends {
			for i, mb := range s.Mailboxes {
				if i >= len(s.Users) {
					routes[mb] = deviceRoute{}
					continue
				}
				user := s.Users[i]
				rec, seen := contacts[user]
				if !seen {
					var err error
					rec, err = getContact(tx, user)
					if err != nil && !errors.Is(err, localstore.ErrNotFound) {
						return err
					}
					contacts[user] = rec
				}
				routes[mb] = routeOf(rec, mb)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []outboxSend
	for _, s := range r.Sends {
		if len(s.Mailboxes) != len(s.Users) {
			out = append(out, s)
			continue
		}
		var order []deviceRoute
		parts := map[deviceRoute]*outboxSend{}
		for i, mb := range s.Mailboxes {
			rt := routes[mb]
			p, ok := parts[rt]
			if !ok {
				p = &outboxSend{Env: s.Env}
				parts[rt] = p
				order = append(order, rt)
			}
			p.Mailboxes, p.Users = append(p.Mailboxes, mb), append(p.Users, s.Users[i])
		}
		for _, rt := range order {
			out = append(out, *parts[rt])
		}
	}
	r.Sends = out
	return routes, nil
}

// routeTransport returns the transport for rt, and whether it is another
// than the client's own.
func (c *Client) routeTransport(ctx context.Context, rt deviceRoute) (transport, bool, error) {
	own, err := c.transport(ctx)
	if err != nil || !rt.known {
		return own, false, err
	}
	switch o := own.(type) {
	case *relayTransport:
		if rt.broker == "" {
			return own, false, nil
		}
	case *directTransport:
		if pub, err := publishedBroker(o.broker); err == nil && pub == rt.broker {
			return own, false, nil
		}
	}
	mailbox := identity.MailboxID(c.id.Public(), c.dev.ID())
	if rt.broker != "" {
		// Sending needs no session with the broker: directTransport.send
		// connects with a random client id, publishes and leaves.
		return &directTransport{broker: rt.broker, mailbox: mailbox}, true, nil
	}
	c.routes.mu.Lock()
	defer c.routes.mu.Unlock()
	if c.routes.relay == nil {
		c.routes.relay = &relayTransport{c: c, mailbox: mailbox}
	}
	return c.routes.relay, true, nil
}
