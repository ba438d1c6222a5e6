package blobs

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// heapProbe samples the live heap and goroutines of the test process, in
// which the server runs. A tight GC target makes HeapInuse follow live
// memory rather than garbage.
type heapProbe struct {
	t          *testing.T
	peakHeap   uint64
	goroutines int
	oldGC      int
}

func newHeapProbe(t *testing.T) *heapProbe {
	p := &heapProbe{t: t, oldGC: debug.SetGCPercent(10)}
	t.Cleanup(func() { debug.SetGCPercent(p.oldGC) })
	runtime.GC()
	p.goroutines = runtime.NumGoroutine()
	return p
}

func (p *heapProbe) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.peakHeap = max(p.peakHeap, ms.HeapInuse)
}

// check fails the test if the heap peak went over budget or goroutines
// were left behind, and logs the figures.
func (p *heapProbe) check(budget uint64) {
	p.t.Helper()
	g := runtime.NumGoroutine()
	for i := 0; i < 50 && g > p.goroutines+2; i++ {
		time.Sleep(10 * time.Millisecond) // connections closing
		g = runtime.NumGoroutine()
	}
	p.t.Logf("peak heap in use %.1f MiB, goroutines %d before, %d after", float64(p.peakHeap)/(1<<20), p.goroutines, g)
	if p.peakHeap > budget {
		p.t.Errorf("heap peaked at %d bytes, budget %d", p.peakHeap, budget)
	}
	if g > p.goroutines+2 {
		p.t.Errorf("goroutines: %d before, %d after", p.goroutines, g)
	}
}

// TestSecurityQuotaStopsBlobHoarding replays the reported attack: one
// account declares 20 blobs of 2 GiB. Declared sizes count against the
// account's quota at creation, so only as many as fit are accepted.
func TestSecurityQuotaStopsBlobHoarding(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.login("alice", 1)
	accepted := 0
	var last reply
	for range 20 {
		last = e.do("POST", "/v1/blobs", alice, "application/json",
			bytes.NewReader([]byte(`{"size":2147483648,"chunk_size":4096,"recipients":1}`)))
		if last.status != http.StatusCreated {
			break
		}
		accepted++
	}
	t.Logf("2 GiB blobs accepted: %d; then %d %s: %s", accepted, last.status, last.code(), bytes.TrimSpace(last.body))
	if accepted != 2 {
		t.Fatalf("%d blobs of 2 GiB accepted under a 4 GiB quota", accepted)
	}
	want(t, "the third 2 GiB blob", last, http.StatusTooManyRequests, "quota_exceeded")
}

// TestSecurityManyDevicesCannotDeleteSharedBlob: a blob for three
// single-device accounts; one recipient account reports done from many
// devices of its own. It must not stand in for the other two.
func TestSecurityManyDevicesCannotDeleteSharedBlob(t *testing.T) {
	e := newEnv(t, Config{})
	alice, carol, dave := e.login("alice", 1), e.login("carol", 1), e.login("dave", 1)
	var bob []string
	for d := range uint32(5) {
		bob = append(bob, e.login("bob", d+1))
	}
	cr := e.create(alice, 10, testChunk, 3)
	want(t, "upload", e.put(alice, cr.ID, 0, fileOf(10, 9)), http.StatusNoContent, "")
	for i, tok := range bob {
		want(t, "bob's device done", e.done(tok, cr.ID), http.StatusNoContent, "")
		if _, r := e.status(carol, cr.ID); r.status != http.StatusOK {
			t.Fatalf("after done from %d devices of one account the blob answers %d", i+1, r.status)
		}
	}
	if b, err := e.db.GetBlob(context.Background(), cr.ID); err != nil || b.Fetched != 1 {
		t.Fatalf("after bob's %d devices: %+v %v", len(bob), b, err)
	} else {
		t.Logf("done from %d devices of one account: every answer 204, %d of %d completions counted, blob still served", len(bob), b.Fetched, b.Recipients)
	}
	for _, tok := range []string{carol, dave} {
		want(t, "other recipient downloads", e.getChunk(tok, cr.ID, 0), http.StatusOK, "")
		want(t, "other recipient done", e.done(tok, cr.ID), http.StatusNoContent, "")
	}
	_, r := e.status(alice, cr.ID)
	want(t, "after every recipient", r, http.StatusNotFound, "not_found")
}

// TestDoneRecordsSurviveRestart: a device that reported done before a
// server restart is not counted again after it.
func TestDoneRecordsSurviveRestart(t *testing.T) {
	e := newEnv(t, Config{})
	alice, bob, carol := e.login("alice", 1), e.login("bob", 1), e.login("carol", 1)
	cr := e.create(alice, 10, testChunk, 2)
	want(t, "upload", e.put(alice, cr.ID, 0, fileOf(10, 9)), http.StatusNoContent, "")
	want(t, "bob done", e.done(bob, cr.ID), http.StatusNoContent, "")
	e.restart(Config{})
	want(t, "bob done again after the restart", e.done(bob, cr.ID), http.StatusNoContent, "")
	if _, r := e.status(carol, cr.ID); r.status != http.StatusOK {
		t.Fatalf("bob's repeat after a restart deleted the blob before carol fetched it: %d", r.status)
	}
	want(t, "carol done", e.done(carol, cr.ID), http.StatusNoContent, "")
	_, r := e.status(alice, cr.ID)
	want(t, "after both recipients", r, http.StatusNotFound, "not_found")
}

// TestSecurityUploadRateLimited replays the reported upload flood (100
// MiB as fast as the connection goes) with the clock standing still: the
// account's byte bucket lets its burst through, then refuses with
// Retry-After before reading a body, and takes chunks again once the
// clock has moved.
func TestSecurityUploadRateLimited(t *testing.T) {
	const chunk = 4 << 20
	e := newEnv(t, Config{MaxChunk: chunk})
	alice := e.login("alice", 1)
	cr := e.create(alice, 100<<20, chunk, 1)
	data := fileOf(chunk, 3)
	probe := newHeapProbe(t)
	var stored, refused int64
	var first reply
	for i := range cr.Chunks {
		r := e.put(alice, cr.ID, i, data)
		probe.sample()
		switch r.status {
		case http.StatusNoContent:
			stored++
		case http.StatusTooManyRequests:
			if refused == 0 {
				first = r
			}
			refused++
		default:
			t.Fatalf("chunk %d: %d %s", i, r.status, r.body)
		}
	}
	t.Logf("100 MiB with the clock still: %d chunks of 4 MiB stored, %d refused (first: %d %s, Retry-After %q)",
		stored, refused, first.status, first.code(), first.header.Get("Retry-After"))
	if stored != 16 || refused != cr.Chunks-16 {
		t.Fatalf("%d chunks stored, %d refused; want the 64 MiB burst (16) stored", stored, refused)
	}
	want(t, "beyond the burst", first, http.StatusTooManyRequests, "rate_limited")
	if first.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1 (4 MiB at 50 MiB/s)", first.header.Get("Retry-After"))
	}
	if n := e.store.puts.Load(); n != stored {
		t.Fatalf("%d chunk writes reached the store, %d accepted", n, stored)
	}
	e.clock.Advance(time.Second)
	want(t, "after waiting", e.put(alice, cr.ID, 16, data), http.StatusNoContent, "")
	probe.check(64 << 20)
}

// TestSecurityIncompleteBlobsCapped: an account cannot open upload after
// upload without finishing them; finishing one frees its place.
func TestSecurityIncompleteBlobsCapped(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.login("alice", 1)
	var open []createResponse
	var last reply
	for range 40 {
		last = e.do("POST", "/v1/blobs", alice, "application/json",
			bytes.NewReader([]byte(`{"size":10,"chunk_size":4096,"recipients":1}`)))
		if last.status != http.StatusCreated {
			break
		}
		var cr createResponse
		if err := json.Unmarshal(last.body, &cr); err != nil {
			t.Fatal(err)
		}
		open = append(open, cr)
	}
	t.Logf("incomplete blobs accepted: %d; then %d %s: %s", len(open), last.status, last.code(), bytes.TrimSpace(last.body))
	if len(open) != 32 {
		t.Fatalf("%d incomplete blobs accepted, want 32", len(open))
	}
	want(t, "one more", last, http.StatusTooManyRequests, "too_many_uploads")
	want(t, "finish one", e.put(alice, open[0].ID, 0, fileOf(10, 1)), http.StatusNoContent, "")
	e.create(alice, 10, testChunk, 1)
}
