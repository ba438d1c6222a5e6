package hush

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/tagged"
)

// BenchmarkReceive measures how fast one device takes in messages: each
// is fetched from the relay, opened (HPKE), decrypted (ratchet), stored
// durably in the profile and acknowledged, a page per transaction
// (receive_batch.go). The receiver never answers, so every message is a
// prekey message in a sealed envelope.
func BenchmarkReceive(b *testing.B) {
	benchmarkReceive(b)
}

// BenchmarkReceiveEstablished measures draining a backlog of tagged
// envelopes on established sessions, the common case of a device that
// was offline: benchReceiveSenders contacts, each holding a batch of
// envelope keys this device offered, queue benchReceivePerSender messages
// each (benchReceiveBacklog in all, several pages), and one op is the
// Syncs that fetch, open, decrypt, store (a transaction per page) and
// acknowledge the whole backlog. Between ops (not timed) the senders take
// the offers of new batches the drain made, so every op is all tagged;
// every op checks it. msgs/s is the figure to compare; cpu-µs/msg (the
// whole process: client and in-process server, over the timed drains) is
// steadier on a machine shared with other work.
func BenchmarkReceiveEstablished(b *testing.B) {
	ctx := context.Background()
	srv := startServerB(b)
	bob, err := Create(ctx, Options{Home: filepath.Join(b.TempDir(), "b"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "bob", "")
	if err != nil {
		b.Fatal(err)
	}
	defer bob.Close()
	senders := make([]*Client, benchReceiveSenders)
	for i := range senders {
		s, err := Create(ctx, Options{Storage: MemoryStore(), Key: make([]byte, 32), ServerURL: srv.HTTPURL()}, fmt.Sprint("sender", i), "")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		senders[i] = s
		benchEstablish(b, s, bob)
	}
	sent := 0
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		for _, s := range senders {
			for range benchReceivePerSender {
				if _, err := s.Send(ctx, "bob", fmt.Sprint("message ", sent)); err != nil {
					b.Fatal(err)
				}
				sent++
			}
		}
		benchCheckAllTagged(b, bob, benchReceiveBacklog)
		b.StartTimer()
		cpu -= processCPU()
		for got := 0; got < benchReceiveBacklog; {
			ms, err := bob.Sync(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(ms) == 0 {
				b.Fatalf("received %d of %d messages", got, benchReceiveBacklog)
			}
			got += len(ms)
		}
		cpu += processCPU()
		b.StopTimer()
		for _, s := range senders { // the offers of the next batches
			if _, err := s.Sync(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*benchReceiveBacklog)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*benchReceiveBacklog), "cpu-µs/msg")
}

// The backlog of BenchmarkReceiveEstablished: 800 envelopes, more than one
// page (drainPageSize), from 16 contacts at once. A sender holds
// one batch of tagged.Window positions at a time.
const (
	benchReceiveSenders   = 16
	benchReceivePerSender = 50
	benchReceiveBacklog   = benchReceiveSenders * benchReceivePerSender
)

// benchEstablish sets up a session between s and bob on which s holds a
// batch of envelope keys bob offered.
func benchEstablish(b *testing.B, s, bob *Client) {
	ctx := context.Background()
	if _, err := s.Send(ctx, "bob", "hello"); err != nil {
		b.Fatal(err)
	}
	if _, err := bob.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := bob.Send(ctx, s.Username(), "hi"); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
}

// benchCheckAllTagged fails b unless bob's mailbox holds at least n
// envelopes (the senders' own offers may come too), all tagged. It
// leaves them pending.
func benchCheckAllTagged(b *testing.B, bob *Client, n int) {
	ctx := context.Background()
	tr, err := bob.transport(ctx)
	if err != nil {
		b.Fatal(err)
	}
	rt := tr.(*relayTransport)
	err = rt.withToken(ctx, func(s *apiclient.Session) error {
		page, err := rt.c.api.Fetch(ctx, s.Token, 0, min(2*n, 1000))
		if err != nil {
			return err
		}
		nt := 0
		for _, e := range page {
			if len(e.Envelope) > 0 && e.Envelope[0] == tagged.Type {
				nt++
			}
		}
		if len(page) < n || nt != len(page) {
			b.Fatalf("backlog holds %d envelopes, %d tagged; want %d or more, all tagged", len(page), nt, n)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func benchmarkReceive(b *testing.B) {
	ctx := context.Background()
	srv := startServerB(b)
	dir := b.TempDir()
	alice, err := Create(ctx, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "alice", "")
	if err != nil {
		b.Fatal(err)
	}
	defer alice.Close()
	bob, err := Create(ctx, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "bob", "")
	if err != nil {
		b.Fatal(err)
	}
	defer bob.Close()
	for i := range b.N {
		if _, err := alice.Send(ctx, "bob", fmt.Sprint("message ", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	got := 0
	for got < b.N {
		ms, err := bob.Sync(ctx)
		if err != nil {
			b.Fatal(err)
		}
		got += len(ms)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSend measures one 1:1 send along the client's real path: the
// session step, the sealed envelope, the message and its outbox entry
// stored durably, the upload, and the entry retired.
func BenchmarkSend(b *testing.B) {
	ctx := context.Background()
	srv := startServerB(b)
	dir := b.TempDir()
	alice, err := Create(ctx, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "alice", "")
	if err != nil {
		b.Fatal(err)
	}
	defer alice.Close()
	bob, err := Create(ctx, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, "bob", "")
	if err != nil {
		b.Fatal(err)
	}
	defer bob.Close()
	if _, err := alice.Send(ctx, "bob", "first"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := alice.Send(ctx, "bob", fmt.Sprint("message ", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
