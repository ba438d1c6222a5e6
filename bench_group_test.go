package hush

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkGroupSend measures one group message to a group of three
// members in the steady state (every sender key handed over already):
// the handover check, the chain step, the message and outbox entry
// stored, the fan-out upload.
func BenchmarkGroupSend(b *testing.B) {
	ctx := context.Background()
	srv := startServerB(b)
	dir := b.TempDir()
	var cs []*Client
	for _, n := range []string{"alice", "bob", "carol"} {
		c, err := Create(ctx, Options{Home: filepath.Join(dir, n), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, n, "")
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	alice := cs[0]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob", "carol"}); err != nil {
		b.Fatal(err)
	}
	if _, err := alice.Group("team").Send(ctx, "first"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := alice.Group("team").Send(ctx, fmt.Sprint("message ", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
