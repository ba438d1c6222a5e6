package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// Group commit: one goroutine takes everything queued (up to maxBatch
// envelopes or maxBatchBytes) and stores it in one AppendEnvelopes
// transaction, so one fsync covers many concurrent sends. It never waits
// for a batch to fill: while one commit runs the next batch accumulates,
// so batches grow with the load and an idle relay adds no latency.
const (
	maxBatch      = 256
	maxBatchBytes = 8 << 20
	commitTimeout = 30 * time.Second
)

type commitReq struct {
	env  store.NewEnvelope
	done chan store.AppendResult // buffered: the committer never blocks on a waiter
}

// commit queues env for the committer and waits for its own result.
func (r *Relay) commit(ctx context.Context, env store.NewEnvelope) (int64, error) {
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return 0, ErrClosed
	}
	r.pending.Add(1)
	r.mu.RUnlock()
	defer r.pending.Done()

	req := &commitReq{env: env, done: make(chan store.AppendResult, 1)}
	select {
	case r.commits <- req:
	case <-r.committerDone:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case res := <-req.done:
		return res.Seq, res.Err
	case <-r.committerDone:
		// Close gave up waiting (its context ended) and the committer
		// stopped; it may have answered just before.
		select {
		case res := <-req.done:
			return res.Seq, res.Err
		default:
			return 0, ErrClosed
		}
	case <-ctx.Done():
		// The envelope may still be committed; the sender, having no
		// answer, sends it again and the device dedupes.
		return 0, ctx.Err()
	}
}

// committer runs until Close has drained every admitted send.
func (r *Relay) committer() {
	defer r.bg.Done()
	defer close(r.committerDone)
	batch := make([]*commitReq, 0, maxBatch)
	for {
		select {
		case req := <-r.commits:
			batch = append(batch[:0], req)
		case <-r.stopCommit:
			r.failQueued()
			return
		}
		size := len(batch[0].env.Data)
	fill:
		for len(batch) < maxBatch && size < maxBatchBytes {
			select {
			case req := <-r.commits:
				batch = append(batch, req)
				size += len(req.env.Data)
			default:
				break fill
			}
		}
		r.commitBatch(batch)
		clear(batch)
	}
}

// failQueued answers requests left behind by waiters that gave up.
func (r *Relay) failQueued() {
	for {
		select {
		case req := <-r.commits:
			req.done <- store.AppendResult{Err: ErrClosed}
		default:
			return
		}
	}
}

func (r *Relay) commitBatch(batch []*commitReq) {
	envs := make([]store.NewEnvelope, len(batch))
	for i, req := range batch {
		envs[i] = req.env
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	start := time.Now()
	res, err := r.st.AppendEnvelopes(ctx, envs, r.stlim)
	cancel()
	r.m.commitSeconds.Observe(time.Since(start).Seconds())
	r.m.batchSize.Observe(float64(len(batch)))
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("store returned %d results for %d envelopes", len(res), len(batch))
	}
	if err != nil {
		r.log.Error("relay: store commit failed", "error", err, "envelopes", len(batch))
		for _, req := range batch {
			req.done <- store.AppendResult{Err: fmt.Errorf("relay: store commit: %w", err)}
		}
		return
	}
	for i, req := range batch {
		out := res[i]
		if out.Err == nil {
			r.m.stored.Inc()
			r.m.storedBytes.Add(float64(len(req.env.Data)))
		}
		out.Err = storeRefusal(out.Err)
		req.done <- out
	}
}

// storeRefusal turns a store's per-envelope refusal into the relay's error.
func storeRefusal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return ErrUnknownMailbox
	case errors.Is(err, store.ErrMailboxFull):
		return ErrMailboxFull
	case errors.Is(err, store.ErrShareFull):
		return ErrShareFull
	case errors.Is(err, store.ErrAccountFull):
		return ErrAccountFull
	}
	return fmt.Errorf("relay: store commit: %w", err)
}
