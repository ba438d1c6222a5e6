package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server"
	"github.com/hush-chat/hush/internal/server/store"
)

// GroupOptions tunes `hush bench group`.
type GroupOptions struct {
	Members  int           // member devices (default 1,000)
	Duration time.Duration // how long each measurement runs
	Progress func(string)
}

// GroupResult is the JSON object `hush bench group --json` prints.
type GroupResult struct {
	SendNs           float64 `json:"send_ns"`            // sender CPU per message: encrypt once, sign once, build the fan-out body
	RatchetSendNs    float64 `json:"ratchet_send_ns"`    // a 1:1 ratchet encrypt of the same message, for comparison
	UploadBytes      int     `json:"upload_bytes"`       // what the sender uploads for one message
	DeliveriesPerSec float64 `json:"deliveries_per_sec"` // mailbox copies the server stores durably and delivers per second
	Members          int     `json:"members"`
}

// Group measures one 100-byte message to a group of opts.Members devices.
func Group(ctx context.Context, o GroupOptions) (*GroupResult, error) {
	if o.Members <= 0 {
		o.Members = 1000
	}
	if o.Duration <= 0 {
		o.Duration = 3 * time.Second
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	var gid group.ID
	rand.Read(gid[:])
	sender, err := group.NewSender(gid, 1)
	if err != nil {
		return nil, err
	}
	mailboxes := make([]string, o.Members)
	for i := range mailboxes {
		var b [16]byte
		rand.Read(b[:])
		mailboxes[i] = fmt.Sprintf("%x", b)
	}
	msg := make([]byte, 100)
	// The routing list changes only with the membership: a sender builds
	// it once per group state, not per message.
	routing, err := proto.NewRouting(mailboxes)
	if err != nil {
		return nil, err
	}
	var body []byte
	r := &GroupResult{Members: o.Members}
	r.SendNs, err = measure(o.Duration/3, func() error {
		ct, err := sender.Encrypt(msg)
		if err != nil {
			return err
		}
		// The relay sees 0x03 || group message (SPEC §12).
		body = routing.Body(append([]byte{0x03}, ct...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.UploadBytes = len(body)
	p, err := newPair()
	if err != nil {
		return nil, err
	}
	if r.RatchetSendNs, err = measure(o.Duration/3, func() error { _, err := p.a.Encrypt(msg); return err }); err != nil {
		return nil, err
	}
	o.Progress(fmt.Sprintf("fanning out to %d mailboxes", o.Members))
	r.DeliveriesPerSec, err = fanoutRate(ctx, o, sender, msg)
	return r, err
}

// fanoutRate runs an in-process server whose store holds o.Members
// devices, and posts group messages to all of them through POST
// /v1/fanout for o.Duration/3.
func fanoutRate(ctx context.Context, o GroupOptions, sender *group.Sender, msg []byte) (float64, error) {
	dir, err := os.MkdirTemp("", "hush-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	cfg := server.Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dir
	// The bench measures how fast the store takes fan-out copies, not the
	// per-account limits (each copy costs the sender a send of its rate
	// limit and counts against its storage budget): lift those.
	cfg.SendRate, cfg.SendBurst, cfg.AccountMaxCount = 1e9, proto.MaxFanout, 1<<40
	s, err := server.New(ctx, cfg, nil)
	if err != nil {
		return 0, err
	}
	if err := s.Start(); err != nil {
		s.Shutdown(context.Background())
		return 0, err
	}
	defer s.Shutdown(context.Background())
	mailboxes, err := seedDevices(ctx, s.Store(), o.Members)
	if err != nil {
		return 0, err
	}
	c := apiclient.New(s.HTTPURL(), nil)
	u, err := registerBenchUser(ctx, c, "group-sender")
	if err != nil {
		return 0, err
	}
	var delivered int
	start := time.Now()
	for time.Since(start) < o.Duration/3 || delivered == 0 {
		ct, err := sender.Encrypt(msg)
		if err != nil {
			return 0, err
		}
		body, err := proto.EncodeFanout(mailboxes, append([]byte{0x03}, ct...))
		if err != nil {
			return 0, err
		}
		n, err := postFanout(ctx, s.HTTPURL(), u.sess.Token, body)
		if err != nil {
			return 0, err
		}
		delivered += n
	}
	return float64(delivered) / time.Since(start).Seconds(), nil
}

func postFanout(ctx context.Context, base, token string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/fanout", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Seqs   []int64 `json:"seqs"`
		Errors []any   `json:"errors"`
	}
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("fan-out: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	if len(out.Errors) > 0 {
		return 0, fmt.Errorf("fan-out: %d recipients refused", len(out.Errors))
	}
	return len(out.Seqs), nil
}

// seedDevices bulk-loads n single-device accounts and returns their
// mailboxes.
func seedDevices(ctx context.Context, st store.Store, n int) ([]string, error) {
	imports := make([]store.Import, n)
	mailboxes := make([]string, n)
	for i := range imports {
		id, err := identity.GenerateIdentity()
		if err != nil {
			return nil, err
		}
		mailboxes[i] = identity.MailboxID(id.Public(), 1)
		imports[i] = store.Import{
			Account:    store.Account{Username: fmt.Sprintf("member%05d", i), IdentityKey: id.Public().Bytes()},
			Device:     store.Device{DeviceID: 1, Cert: []byte("bench"), Mailbox: mailboxes[i]},
			Signed:     store.PreKey{KeyID: 1, Data: []byte("bench")},
			LastResort: store.PreKey{KeyID: 2, Data: []byte("bench")},
		}
	}
	return mailboxes, st.ImportAccounts(ctx, imports)
}
