package relay

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hush-chat/hush/internal/server/store"
)

// BenchmarkSubmit measures durable sends with 100 concurrent submitters
// (as 100 publishing connections would make) of 300-byte envelopes to 10
// mailboxes, on SQLite with synchronous=FULL. Group commit is what makes
// the envelopes/s figure exceed the fsyncs/s of the disk.
func BenchmarkSubmit(b *testing.B) {
	e := newEnv(b, Limits{Mailbox: store.MailboxLimits{MaxCount: 1 << 40, MaxBytes: 1 << 50}})
	var mailboxes []string
	for i := range 10 {
		mailboxes = append(mailboxes, e.device(b, "user"+string(rune('a'+i))).mailbox)
	}
	env := sealed(300)
	const submitters = 100
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := e.r.Submit(context.Background(), mailboxes[w%len(mailboxes)], env); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
}
