package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server"
)

// RelayOptions tunes `hush bench relay`.
type RelayOptions struct {
	// ServerURL is the HTTP URL of a running server; empty starts one in
	// process on loopback with a temporary SQLite database.
	ServerURL string
	// MQTTURL is the server's MQTT address (mqtt://host:port), needed with
	// ServerURL.
	MQTTURL string
	// Clients is the number of MQTT connections: half senders, half
	// receivers, in pairs.
	Clients int
	// Duration is how long the senders send.
	Duration time.Duration
	// Size is the envelope size in bytes (a 100-byte message in a sealed
	// envelope of the smallest padding bucket is 1,393 bytes).
	Size int
	// InFlight is how many QoS 1 publishes each sender keeps outstanding
	// (MQTT lets a client pipeline up to the server's receive maximum).
	InFlight int
	// Progress, if set, is told what the bench is doing.
	Progress func(string)
}

// RelayResult is the JSON object `hush bench relay --json` prints.
type RelayResult struct {
	MessagesPerSec float64 `json:"messages_per_sec"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	Lost           int64   `json:"lost"`
	Duplicated     int64   `json:"duplicated"`
	Clients        int     `json:"clients"`
	Sent           int64   `json:"sent"`
	Received       int64   `json:"received"`
	EnvelopeBytes  int     `json:"envelope_bytes"`
	Seconds        float64 `json:"seconds"`
	Server         string  `json:"server"`
	InFlight       int     `json:"in_flight"`
}

// benchUser is one registered device with a relay session.
type benchUser struct {
	name string
	dev  *identity.DevicePrivateKey
	sess *apiclient.Session
}

// Relay measures durable end-to-end delivery through a server: every
// sender publishes QoS 1 envelopes to its receiver's inbox (the PUBACK
// comes after the durable commit); receivers acknowledge what they got.
// Latency is from publish to receipt.
func Relay(ctx context.Context, o RelayOptions) (*RelayResult, error) {
	if o.Clients < 2 {
		o.Clients = 100
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Size < 32 {
		o.Size = 1393
	}
	if o.InFlight < 1 {
		o.InFlight = 1
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	httpURL, mqttURL := o.ServerURL, o.MQTTURL
	if httpURL == "" {
		dir, err := os.MkdirTemp("", "hush-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		s, err := server.StartLocal(ctx, dir)
		if err != nil {
			return nil, err
		}
		defer s.Shutdown(context.Background())
		httpURL, mqttURL = s.HTTPURL(), s.MQTTURL()
	} else if mqttURL == "" {
		return nil, errors.New("--mqtt is required with --server")
	}
	pairs := o.Clients / 2
	o.Progress(fmt.Sprintf("registering %d users", 2*pairs))
	c := apiclient.New(httpURL, nil)
	prefix := fmt.Sprintf("b%x", time.Now().UnixNano()&0xffffff)
	users := make([]*benchUser, 2*pairs)
	for i := range users {
		u, err := registerBenchUser(ctx, c, fmt.Sprintf("%s-%d", prefix, i))
		if err != nil {
			return nil, err
		}
		users[i] = u
	}
	senders, receivers := users[:pairs], users[pairs:]
	st := &relayStats{seen: make(map[uint64]int, 1<<16)}
	addr := strings.TrimPrefix(mqttURL, "mqtt://")

	o.Progress("connecting receivers")
	var recvClients []*paho.Client
	for _, r := range receivers {
		cl, err := receiverClient(ctx, addr, r, st)
		if err != nil {
			return nil, err
		}
		recvClients = append(recvClients, cl)
	}
	defer func() {
		for _, cl := range recvClients {
			cl.Disconnect(&paho.Disconnect{})
		}
	}()
	var sendClients []*paho.Client
	for _, s := range senders {
		cl, err := dialMQTT(ctx, addr, s.sess, nil)
		if err != nil {
			return nil, err
		}
		sendClients = append(sendClients, cl)
	}
	defer func() {
		for _, cl := range sendClients {
			cl.Disconnect(&paho.Disconnect{})
		}
	}()

	o.Progress(fmt.Sprintf("sending for %s over %d connections", o.Duration, 2*pairs))
	start := time.Now()
	deadline := start.Add(o.Duration)
	var wg sync.WaitGroup
	var sendErr atomic.Value
	for i, cl := range sendClients {
		for lane := range o.InFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := uint32(i*o.InFlight + lane)
				if err := sendLoop(ctx, cl, id, receivers[i].sess.Mailbox, o.Size, deadline, st); err != nil {
					sendErr.CompareAndSwap(nil, err)
				}
			}()
		}
	}
	wg.Wait()
	sendEnd := time.Now()
	if err, _ := sendErr.Load().(error); err != nil {
		return nil, err
	}
	// Let the last deliveries arrive.
	for wait := time.Now().Add(10 * time.Second); time.Now().Before(wait) && st.received.Load() < st.sent.Load(); {
		time.Sleep(20 * time.Millisecond)
	}
	return st.result(o, sendEnd.Sub(start), httpURL), nil
}

func registerBenchUser(ctx context.Context, c *apiclient.Client, name string) (*benchUser, error) {
	id, err := identity.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	dev, err := identity.GenerateDevice(1)
	if err != nil {
		return nil, err
	}
	now := time.Now().Unix()
	ring, err := pqxdh.NewKeyring(id, 1, now)
	if err != nil {
		return nil, err
	}
	err = c.Register(ctx, apiclient.Registration{Username: name, Identity: id, Cert: identity.Certify(id, dev, now), Keyring: ring})
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	sess, err := c.Login(ctx, name, dev)
	if err != nil {
		return nil, err
	}
	return &benchUser{name: name, dev: dev, sess: sess}, nil
}

func dialMQTT(ctx context.Context, addr string, s *apiclient.Session, onMsg func(paho.PublishReceived) (bool, error)) (*paho.Client, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := paho.ClientConfig{Conn: conn}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onMsg}
	}
	cl := paho.NewClient(cfg)
	ca, err := cl.Connect(ctx, &paho.Connect{ClientID: s.Mailbox + "-" + fmt.Sprint(time.Now().UnixNano()), KeepAlive: 60, CleanStart: true,
		Username: s.Mailbox, UsernameFlag: true, Password: []byte(s.Token), PasswordFlag: true})
	if err != nil {
		return nil, err
	}
	if ca.ReasonCode != 0 {
		return nil, fmt.Errorf("mqtt connect refused: reason 0x%02x", ca.ReasonCode)
	}
	return cl, nil
}

// receiverClient connects, subscribes to the inbox and acknowledges each
// delivery on the ack topic.
func receiverClient(ctx context.Context, addr string, u *benchUser, st *relayStats) (*paho.Client, error) {
	var mu sync.Mutex
	var pending []int64
	// flush takes the client as an argument: onMsg may run before the
	// dial below has returned.
	flush := func(cl *paho.Client) {
		mu.Lock()
		seqs := pending
		pending = nil
		mu.Unlock()
		if len(seqs) == 0 {
			return
		}
		frame, err := proto.EncodeAck(seqs)
		if err == nil {
			go cl.Publish(context.Background(), &paho.Publish{Topic: proto.AckTopic(u.sess.Mailbox), QoS: 0, Payload: frame})
		}
	}
	onMsg := func(pr paho.PublishReceived) (bool, error) {
		seq, env, err := proto.DecodeDelivery(pr.Packet.Payload)
		if err != nil || len(env) < 21 {
			return true, nil
		}
		st.record(env, time.Now())
		mu.Lock()
		pending = append(pending, seq)
		full := len(pending) >= 64
		mu.Unlock()
		if full {
			flush(pr.Client)
		}
		return true, nil
	}
	cl, err := dialMQTT(ctx, addr, u.sess, onMsg)
	if err != nil {
		return nil, err
	}
	if _, err := cl.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: proto.InboxTopic(u.sess.Mailbox), QoS: 1}}}); err != nil {
		return nil, err
	}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			flush(cl)
			if cl.Done() != nil {
				select {
				case <-cl.Done():
					return
				default:
				}
			}
		}
	}()
	return cl, nil
}

// sendLoop publishes envelopes until deadline. Each envelope carries
// 0x01 (a sealed envelope's version byte) || u32 sender || u64 counter ||
// u64 send time (ns) || filler.
func sendLoop(ctx context.Context, cl *paho.Client, sender uint32, mailbox string, size int, deadline time.Time, st *relayStats) error {
	topic := proto.InboxTopic(mailbox)
	for n := uint64(1); time.Now().Before(deadline); n++ {
		env := make([]byte, size)
		env[0] = 0x01
		binary.BigEndian.PutUint32(env[1:], sender)
		binary.BigEndian.PutUint64(env[5:], n)
		binary.BigEndian.PutUint64(env[13:], uint64(time.Now().UnixNano()))
		resp, err := cl.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: env})
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if resp != nil && resp.ReasonCode >= 0x80 {
			return fmt.Errorf("publish refused: reason 0x%02x", resp.ReasonCode)
		}
		st.sent.Add(1)
	}
	return nil
}

type relayStats struct {
	sent, received atomic.Int64
	mu             sync.Mutex
	seen           map[uint64]int
	latencies      []time.Duration
	dups           int64
}

func (s *relayStats) record(env []byte, now time.Time) {
	key := uint64(binary.BigEndian.Uint32(env[1:]))<<40 | binary.BigEndian.Uint64(env[5:])
	sentAt := time.Unix(0, int64(binary.BigEndian.Uint64(env[13:])))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[key]++
	if s.seen[key] > 1 {
		s.dups++
		return
	}
	s.received.Add(1)
	s.latencies = append(s.latencies, now.Sub(sentAt))
}

func (s *relayStats) result(o RelayOptions, d time.Duration, url string) *RelayResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.Sort(s.latencies)
	pct := func(p float64) float64 {
		if len(s.latencies) == 0 {
			return 0
		}
		return float64(s.latencies[int(p*float64(len(s.latencies)-1))].Microseconds()) / 1e3
	}
	where := "in-process"
	if o.ServerURL != "" {
		where = url
	}
	return &RelayResult{
		MessagesPerSec: float64(s.received.Load()) / d.Seconds(),
		P50ms:          pct(0.50), P99ms: pct(0.99),
		Lost:       s.sent.Load() - s.received.Load(),
		Duplicated: s.dups, Clients: 2 * (o.Clients / 2), Sent: s.sent.Load(), Received: s.received.Load(),
		EnvelopeBytes: o.Size, Seconds: d.Seconds(), Server: where, InFlight: o.InFlight,
	}
}
