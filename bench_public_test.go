package hush_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/hushtest"
)

// The benchmarks here use only the public API, as an application would,
// so later changes to the SDK can be compared on the path its users take.

// pair is two users on one in-process server, with profiles in SQLite
// (memory false) or in hush.MemoryStore.
func pair(b *testing.B, memory bool) (alice, bob *hush.Client) {
	b.Helper()
	ctx := context.Background()
	srv := hushtest.NewServer(b)
	mk := func(name string) *hush.Client {
		if !memory {
			return srv.NewClient(b, name)
		}
		o := srv.Options()
		o.Home = ""
		o.Storage = hush.MemoryStore()
		c, err := hush.Create(ctx, o, name, "")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	return mk("alice"), mk("bob")
}

// BenchmarkPublicSendReceive is one 100-byte text from alice to bob and
// bob's Sync that stores and acknowledges it: a message's whole client
// path through a real server (HTTP upload, relay, mailbox page, ack).
func BenchmarkPublicSendReceive(b *testing.B) {
	for _, store := range []string{"sqlite", "memory"} {
		b.Run(store, func(b *testing.B) {
			ctx := context.Background()
			alice, bob := pair(b, store == "memory")
			text := string(bytes.Repeat([]byte("x"), 100))
			if _, err := alice.Send(ctx, "bob", text); err != nil { // the session exists from here on
				b.Fatal(err)
			}
			if _, err := bob.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := alice.Send(ctx, "bob", text); err != nil {
					b.Fatal(err)
				}
				ms, err := bob.Sync(ctx)
				if err != nil || len(ms) != 1 || ms[0].Text != text {
					b.Fatalf("sync: %d messages, %v", len(ms), err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkPublicSealUnseal seals 1 KiB for one other user (and the
// sealer's own device) and opens it as that user.
func BenchmarkPublicSealUnseal(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ctx := context.Background()
			alice, bob := pair(b, true)
			data := bytes.Repeat([]byte("r"), size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				blob, err := alice.Seal(ctx, data, "bob")
				if err != nil {
					b.Fatal(err)
				}
				got, from, err := bob.Unseal(ctx, blob)
				if err != nil || from != "alice" || !bytes.Equal(got, data) {
					b.Fatalf("unseal: from %q, %v", from, err)
				}
			}
		})
	}
}
