package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/server"
	"github.com/hush-chat/hush/internal/tagged"
)

// ReceiveOptions tunes `hush bench receive`.
type ReceiveOptions struct {
	Messages int // envelopes queued for the receiver (default 50,000)
	Senders  int // users sending them, concurrently (default 4)
	Progress func(string)
}

// ReceiveResult is the JSON object `hush bench receive --json` prints.
//
// PeakRSSBytes is the peak resident set of the whole benchmark process
// while the receiver drains: the in-process server (its SQLite database
// and caches) is part of it, the senders are not (they are closed, and
// the high-water mark reset where the system allows, before the drain
// starts). RSSScope says which it was.
type ReceiveResult struct {
	MessagesPerSec float64 `json:"messages_per_sec"`
	Seconds        float64 `json:"seconds"`
	Messages       int     `json:"messages"`
	Senders        int     `json:"senders"`
	Received       int     `json:"received"` // distinct messages in the receiver's history
	Lost           int     `json:"lost"`
	Duplicated     int     `json:"duplicated"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
	RSSScope       string  `json:"rss_scope"`
	Syncs          int     `json:"syncs"`
	Cores          int     `json:"cores"`
	// Sealed and Tagged count the backlog's envelopes by kind: sealed
	// (HPKE, doc/SPEC.md §6.4) or tagged (§14); Other is the rest. The
	// backlog holds the senders' key offers too (tagged).
	Sealed int `json:"sealed"`
	Tagged int `json:"tagged"`
	Other  int `json:"other"`
}

// Receive measures how fast a device drains a backlog: Senders users
// (in-memory profiles) first exchange a message with one receiving device,
// so that each holds a session with it and its offer of envelope keys
// (tagged envelopes, SPEC §14), as contacts do; then, the receiver
// offline, they queue Messages 1:1 messages to it on an in-process server
// (SQLite in a temporary directory); then the receiver, with an encrypted
// SQLite profile, runs Sync until nothing is pending: fetch pages, open,
// decrypt, store durably, acknowledge. Only the drain is timed. Every
// message must be in the receiver's history exactly once; Lost and
// Duplicated count those that are not.
func Receive(ctx context.Context, o ReceiveOptions) (*ReceiveResult, error) {
	if o.Messages <= 0 {
		o.Messages = 50_000
	}
	if o.Senders <= 0 {
		o.Senders = 4
	}
	o.Senders = min(o.Senders, o.Messages)
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	dir, err := os.MkdirTemp("", "hush-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o.Progress("starting a server")
	cfg := server.Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", filepath.Join(dir, "server")
	cfg.RegistrationsPerIPHour = -1
	// The whole backlog waits in one mailbox, from a few senders sending
	// as fast as they can: the default quotas would refuse most of it.
	cfg.MailboxMaxCount, cfg.MailboxMaxBytes, cfg.MailboxSenderShare = int64(o.Messages)+1000, 1<<40, 1
	cfg.AccountMaxCount, cfg.AccountMaxBytes = int64(o.Messages)+1000, 1<<40
	cfg.SendRate, cfg.SendBurst = 1e9, 1<<30
	cfg.AccountSendRate, cfg.AccountSendBurst = 1e9, 1<<30
	srv, err := server.StartConfig(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	defer srv.Shutdown(context.WithoutCancel(ctx))

	bob, err := hush.Create(ctx, hush.Options{Home: filepath.Join(dir, "receiver"), Passphrase: []byte("bench receiver"),
		ServerURL: srv.HTTPURL()}, "receiver", "")
	if err != nil {
		return nil, err
	}
	defer bob.Close()
	want, warm, err := queueBacklog(ctx, srv.HTTPURL(), o, bob)
	if err != nil {
		return nil, err
	}
	mix, err := backlogMix(ctx, srv, bob.Mailbox())
	if err != nil {
		return nil, err
	}

	o.Progress(fmt.Sprintf("receiving %d messages", o.Messages))
	runtime.GC()
	debug.FreeOSMemory()
	scope := resetPeakRSS()
	start := time.Now()
	syncs := 0
	got := map[string]int{}
	for {
		ms, err := bob.Sync(ctx)
		syncs++
		if err != nil {
			return nil, fmt.Errorf("sync: %w", err)
		}
		for _, m := range ms {
			got[m.Text]++
		}
		if len(ms) == 0 {
			break
		}
	}
	elapsed := time.Since(start)
	peak := peakRSS()

	// What counts is what the receiver keeps: its history.
	stored := map[string]int{}
	for s := range o.Senders {
		hist, err := bob.History(ctx, senderName(s), o.Messages+1)
		if err != nil {
			return nil, err
		}
		for _, m := range hist {
			stored[m.Text]++
		}
	}
	r := &ReceiveResult{Messages: o.Messages, Senders: o.Senders, Seconds: elapsed.Seconds(),
		MessagesPerSec: float64(o.Messages) / elapsed.Seconds(), PeakRSSBytes: peak, RSSScope: scope,
		Syncs: syncs, Cores: runtime.GOMAXPROCS(0), Sealed: mix[envelope.SealedVersion], Tagged: mix[tagged.Type]}
	for _, n := range mix {
		r.Other += n // every envelope waiting: the messages and the senders' key offers
	}
	r.Other -= r.Sealed + r.Tagged
	for text := range want {
		n := stored[text]
		switch {
		case n == 0:
			r.Lost++
		case n > 1:
			r.Duplicated += n - 1
		}
		if n > 0 {
			r.Received++
		}
		if got[text] > 1 { // Sync returned it twice
			r.Duplicated += got[text] - 1
		}
	}
	for text, n := range stored {
		if !want[text] && !warm[text] {
			r.Duplicated += n // not sent at all: counted as a duplicate of nothing
		}
	}
	return r, nil
}

// backlogMix counts the envelopes waiting in mailbox by their first byte.
func backlogMix(ctx context.Context, srv *server.Server, mailbox string) (map[byte]int, error) {
	mix := map[byte]int{}
	var after int64
	for {
		page, err := srv.Store().PendingEnvelopes(ctx, mailbox, after, 1000)
		if err != nil || len(page) == 0 {
			return mix, err
		}
		for _, e := range page {
			if len(e.Data) > 0 {
				mix[e.Data[0]]++
			}
		}
		after = page[len(page)-1].Seq
	}
}

func senderName(i int) string { return fmt.Sprintf("sender%d", i) }

// queueBacklog has o.Senders users, each with an in-memory profile, say
// hello to "receiver" (the client bob), which syncs once, answering with
// its offers of envelope keys, which the senders take; then they queue
// their share of o.Messages to it, concurrently. It returns the texts of
// the backlog and of the hellos. The senders are closed before it
// returns.
func queueBacklog(ctx context.Context, url string, o ReceiveOptions, bob *hush.Client) (want, warm map[string]bool, err error) {
	o.Progress(fmt.Sprintf("%d senders say hello", o.Senders))
	senders := make([]*hush.Client, o.Senders)
	defer func() {
		for _, c := range senders {
			if c != nil {
				c.Close()
			}
		}
	}()
	warm = map[string]bool{}
	for s := range o.Senders {
		c, err := hush.Create(ctx, hush.Options{Storage: hush.MemoryStore(), Key: make([]byte, 32), ServerURL: url}, senderName(s), "")
		if err != nil {
			return nil, nil, fmt.Errorf("create %s: %w", senderName(s), err)
		}
		senders[s] = c
		text := "hello from " + senderName(s)
		if _, err := c.Send(ctx, "receiver", text); err != nil {
			return nil, nil, fmt.Errorf("%s: send: %w", senderName(s), err)
		}
		warm[text] = true
	}
	for { // the receiver answers each session with its offer
		ms, err := bob.Sync(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("receiver: sync: %w", err)
		}
		if len(ms) == 0 {
			break
		}
	}
	for _, c := range senders {
		if _, err := c.Sync(ctx); err != nil {
			return nil, nil, fmt.Errorf("%s: sync: %w", c.Username(), err)
		}
	}

	o.Progress(fmt.Sprintf("queueing %d messages from %d senders", o.Messages, o.Senders))
	want = make(map[string]bool, o.Messages)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, o.Senders)
	for s, c := range senders {
		n := o.Messages / o.Senders
		if s < o.Messages%o.Senders {
			n++
		}
		wg.Go(func() {
			errs[s] = sendBacklog(ctx, c, n, func(text string) {
				mu.Lock()
				want[text] = true
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	return want, warm, errors.Join(errs...)
}

func sendBacklog(ctx context.Context, c *hush.Client, n int, sent func(string)) error {
	for i := range n {
		text := fmt.Sprintf("%s message %d", c.Username(), i)
		if _, err := c.Send(ctx, "receiver", text); err != nil {
			return fmt.Errorf("%s: send: %w", c.Username(), err)
		}
		sent(text)
	}
	return nil
}
