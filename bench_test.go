package hush

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkReceive measures how fast one device takes in messages: each
// is fetched from the relay, opened (HPKE), decrypted (ratchet), stored
// durably in the profile and acknowledged, a page per transaction
// (receive_batch.go). The receiver never answers, so every message is a
// prekey message; BenchmarkReceiveEstablished is the same on a session
// both sides use.
func BenchmarkReceive(b *testing.B) {
	benchmarkReceive(b, false)
}

// BenchmarkReceiveEstablished is BenchmarkReceive on an established
// session: the messages are plain ratchet messages.
func BenchmarkReceiveEstablished(b *testing.B) {
	benchmarkReceive(b, true)
}

func benchmarkReceive(b *testing.B, established bool) {
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
	if established {
		if _, err := alice.Send(ctx, "bob", "hello"); err != nil {
			b.Fatal(err)
		}
		if _, err := bob.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := bob.Send(ctx, "alice", "hi"); err != nil {
			b.Fatal(err)
		}
		if _, err := alice.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
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
