package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/sqlstore"
	"github.com/hush-chat/hush/internal/server/store"
	"github.com/hush-chat/hush/internal/testkit"
)

// gatedStore holds every mailbox read until the gate opens, so that a test
// knows which list requests were admitted before any of them reads, and
// then lets all the admitted ones read at once.
type gatedStore struct {
	*sqlstore.DB
	gate    chan struct{}
	waiting atomic.Int32 // reads held at the gate
}

func (g *gatedStore) PendingPage(ctx context.Context, mailbox string, after int64, limit, maxBytes int) ([]store.Envelope, error) {
	select {
	case <-g.gate:
	default:
		g.waiting.Add(1)
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.DB.PendingPage(ctx, mailbox, after, limit, maxBytes)
}

// heapPeak samples the live heap until stop is called and returns the
// highest HeapAlloc seen.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

// listAnswer is what the test saw of one GET /v1/mailbox: the status, the
// error code of a refusal, Retry-After, and the size of an answer that was
// read without keeping it (the test's own memory must not count).
type listAnswer struct {
	status     int
	code       string
	retryAfter string
	size       int64
	wellFormed bool
}

// listStalling sends a list request, reports on headers when the
// answer's headers (or a refusal) have come, and reads the body only
// once read is closed: a client that stalls as an attacker would, so the
// server holds whatever it has prepared for the answer meanwhile.
func (e *testEnv) listStalling(d device, path string, headers func(), read <-chan struct{}) listAnswer {
	defer func() {
		if headers != nil {
			headers()
		}
	}()
	req, err := http.NewRequest("GET", e.httpURL+path, nil)
	if err != nil {
		return listAnswer{code: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return listAnswer{code: err.Error()}
	}
	defer resp.Body.Close()
	a := listAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&eb)
		a.code = eb.Error.Code
		return a
	}
	headers()
	headers = nil
	<-read
	ends := &endsWriter{}
	a.size, _ = io.Copy(ends, resp.Body)
	a.wellFormed = bytes.HasPrefix(ends.head, []byte(`{"envelopes":[{"seq":`)) && bytes.HasSuffix(ends.tail, []byte("}]}\n"))
	return a
}

// endsWriter keeps the first and last bytes written to it.
type endsWriter struct{ head, tail []byte }

func (w *endsWriter) Write(p []byte) (int, error) {
	if len(w.head) < 32 {
		w.head = append(w.head, p[:min(len(p), 32-len(w.head))]...)
	}
	w.tail = append(w.tail, p[max(0, len(p)-8):]...)
	w.tail = w.tail[max(0, len(w.tail)-8):]
	return len(p), nil
}

// Security regression (issue 9, item 1): concurrent GET /v1/mailbox on
// full mailboxes must not grow the server's heap with the number of
// requests. Several devices each fire more list requests at once than
// the per-device bound admits; the admitted ones read together while the
// test samples the heap.
func TestSecurityMailboxListMemoryIsBounded(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testListMemory(t, "sqlite://"+filepath.Join(t.TempDir(), "hush.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		url := testkit.PostgresURL(t)
		if url == "" {
			t.Skip("HUSH_TEST_POSTGRES not set")
		}
		testListMemory(t, url)
	})
}

func testListMemory(t *testing.T, dbURL string) {
	const (
		devices   = 4
		perDevice = 6
		envSize   = 48 << 10
		envCount  = 100 // ≈ 4.8 MiB per mailbox: more than one answer holds
		budget    = 4 << 20
	)
	var gs *gatedStore
	e := newEnvOn(t, dbURL, Limits{}, func(c *Config) {
		gs = &gatedStore{DB: c.Store.(*sqlstore.DB), gate: make(chan struct{})}
		c.Store = gs
	})
	e.r.listBudget = budget
	var owners []device
	for i := range devices {
		owner, sender := e.device(t, fmt.Sprintf("owner%d", i)), e.device(t, fmt.Sprintf("sender%d", i))
		owners = append(owners, owner)
		close(gs.gate) // sends do not read mailboxes; the gate is for the lists
		fillMailbox(t, e, sender, owner, envCount, envSize)
		gs.gate = make(chan struct{})
	}

	old := debug.SetGCPercent(10)
	defer debug.SetGCPercent(old)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	answers := make([][]listAnswer, devices)
	var refused, answered atomic.Int32
	read := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range owners {
		answers[i] = make([]listAnswer, perDevice)
		for j := range perDevice {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := e.listStalling(d, "/v1/mailbox?limit=1000", func() { answered.Add(1) }, read)
				answers[i][j] = a
				if a.status != http.StatusOK {
					refused.Add(1)
				}
			}()
		}
	}
	// Every request is either refused or held at the gate before any
	// reads: the admitted ones then run together.
	waitFor(t, "every list request admitted or refused", func() bool {
		return int(gs.waiting.Load()+answered.Load()) == devices*perDevice
	})
	stop := heapPeak()
	close(gs.gate)
	// Every admitted answer has started, and its client does not read:
	// what the server prepared for it is in memory now.
	waitFor(t, "every answer started", func() bool { return int(answered.Load()) == devices*perDevice })
	runtime.ReadMemStats(&ms)
	stalled := ms.HeapAlloc
	close(read)
	wg.Wait()
	peak := max(stop(), stalled)
	admitted := devices*perDevice - int(refused.Load())
	grown := int64(peak) - int64(base)
	t.Logf("%d devices × %d concurrent lists of full mailboxes (%d × %d KiB, answer budget %d MiB), clients stalling: %d admitted, %d refused; heap base %.1f MiB, with stalled clients %.1f MiB, peak %.1f MiB (+%.1f MiB)",
		devices, perDevice, envCount, envSize>>10, budget>>20, admitted, refused.Load(),
		float64(base)/(1<<20), float64(stalled)/(1<<20), float64(peak)/(1<<20), float64(grown)/(1<<20))

	for i := range owners {
		ok := 0
		for _, a := range answers[i] {
			switch {
			case a.status == http.StatusOK:
				ok++
				if !a.wellFormed || a.size > budget {
					t.Errorf("device %d: answer of %d bytes, well formed %v (budget %d)", i, a.size, a.wellFormed, budget)
				}
			case a.status == http.StatusTooManyRequests && a.code == "rate_limited" && a.retryAfter != "":
			default:
				t.Errorf("device %d: answer %d %q (Retry-After %q)", i, a.status, a.code, a.retryAfter)
			}
		}
		if ok != DefaultListConcurrency {
			t.Errorf("device %d: %d of %d concurrent lists admitted, want %d", i, ok, perDevice, DefaultListConcurrency)
		}
	}
	// A list request holds at most one read chunk and one envelope, not
	// its whole answer: the heap follows the admitted requests (the
	// per-device bound × the devices), each with a small multiple of
	// that, far under one answer budget per request.
	bound := devices * DefaultListConcurrency
	limit := int64(bound)*3*int64(listChunk+envSize) + 8<<20
	if grown > limit {
		t.Fatalf("heap grew by %.1f MiB during %d concurrent list requests, budget %.1f MiB", float64(grown)/(1<<20), devices*perDevice, float64(limit)/(1<<20))
	}

	// The refused lists succeed once the others are done, and every page
	// decodes.
	for _, d := range owners {
		raw := e.getRaw(t, d, "/v1/mailbox?limit=1000")
		var list listResponse
		if err := json.Unmarshal(raw, &list); err != nil || len(list.Envelopes) == 0 || len(raw) > budget {
			t.Fatalf("list after the burst: %d bytes, %d envelopes, %v", len(raw), len(list.Envelopes), err)
		}
	}
}

// fillMailbox stores count envelopes of size bytes for owner, sent by
// sender over HTTP, a few at a time so the relay commits them together.
func fillMailbox(t *testing.T, e *testEnv, sender, owner device, count, size int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan string, count)
	sem := make(chan struct{}, 8)
	for range count {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			req, err := http.NewRequest("POST", e.httpURL+"/v1/mailboxes/"+owner.mailbox+"/envelopes", bytes.NewReader(sealed(size)))
			if err != nil {
				errs <- err.Error()
				return
			}
			req.Header.Set("Content-Type", "application/octet-stream")
			req.Header.Set("Authorization", "Bearer "+sender.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				errs <- fmt.Sprintf("fill: HTTP %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Fatal(msg)
	}
}
