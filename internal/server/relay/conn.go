package relay

import (
	"context"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/hush-chat/hush/internal/server/httpapi"
)

// conn is the relay's state for one authenticated MQTT connection.
type conn struct {
	cl     *mqtt.Client
	device httpapi.Principal
	token  string // kept in memory only, to verify it again; never logged
	v5     bool
	ctx    context.Context // done when the connection ends
	cancel context.CancelFunc

	// window bounds the backlog frames awaiting a PUBACK; outstanding
	// holds their packet ids.
	window chan struct{}

	// deliverMu orders live deliveries against the start of a backlog
	// pass: held while deciding on and publishing a live delivery, and
	// while the inbox subscription is being made.
	deliverMu sync.Mutex

	mu           sync.Mutex
	subscribed   bool // to its inbox
	subQos       byte
	holdLive     bool  // subscribing, or a backlog pass running: live deliveries wait for the pass
	backlogRun   bool  // a backlog pass is running
	backlogAgain bool  // run another pass when this one ends
	restart      bool  // the next pass starts from the oldest stored envelope
	pushedTo     int64 // the newest sequence number a pass pushed on this connection
	outstanding  map[uint16]struct{}
}

// take records a backlog packet id awaiting its PUBACK.
func (c *conn) take(id uint16) {
	c.mu.Lock()
	c.outstanding[id] = struct{}{}
	c.mu.Unlock()
}

// release frees the window slot of a backlog packet id, if it is one.
func (c *conn) release(id uint16) {
	c.mu.Lock()
	_, ok := c.outstanding[id]
	delete(c.outstanding, id)
	c.mu.Unlock()
	if ok {
		select {
		case <-c.window:
		default:
		}
	}
}

// connTable indexes connections by broker client and by mailbox.
type connTable struct {
	mu        sync.RWMutex
	byClient  map[*mqtt.Client]*conn
	byMailbox map[string]map[*conn]struct{}
}

func newConnTable() *connTable {
	return &connTable{byClient: map[*mqtt.Client]*conn{}, byMailbox: map[string]map[*conn]struct{}{}}
}

// add records c unless its device already holds max connections, and
// reports whether it did. A connection with c's client id is not counted:
// c takes it over (the broker ends it once c is admitted).
func (t *connTable) add(c *conn, max int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := t.byMailbox[c.device.Mailbox]
	held := 0
	for o := range set {
		if o.cl.ID != c.cl.ID {
			held++
		}
	}
	if held >= max {
		return false
	}
	t.byClient[c.cl] = c
	if set == nil {
		set = map[*conn]struct{}{}
		t.byMailbox[c.device.Mailbox] = set
	}
	set[c] = struct{}{}
	return true
}

// remove forgets the connection of cl and reports it, or nil.
func (t *connTable) remove(cl *mqtt.Client) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.byClient[cl]
	if c == nil {
		return nil
	}
	delete(t.byClient, cl)
	if set := t.byMailbox[c.device.Mailbox]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(t.byMailbox, c.device.Mailbox)
		}
	}
	return c
}

func (t *connTable) get(cl *mqtt.Client) *conn {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byClient[cl]
}

func (t *connTable) all() []*conn {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*conn, 0, len(t.byClient))
	for _, c := range t.byClient {
		out = append(out, c)
	}
	return out
}

func (t *connTable) forMailbox(mailbox string) []*conn {
	t.mu.RLock()
	defer t.mu.RUnlock()
	set := t.byMailbox[mailbox]
	out := make([]*conn, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}

// catchUpSaturated starts a backlog pass for each subscribed connection of
// mailbox whose broker queue of unacknowledged packets is full: the
// broker skips live deliveries to such a client, so the relay re-sends
// from the store once it has room (the envelopes are stored; only their
// live push was lost).
func (t *connTable) catchUpSaturated(r *Relay, mailbox string) {
	for _, c := range t.forMailbox(mailbox) {
		if c.cl.State.Inflight.Len() >= maxInflight {
			r.catchUp(c)
		}
	}
}
