package hush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server"
)

// startServerWith starts a real server with some settings changed.
func startServerWith(t *testing.T, tweak func(*server.Config)) *server.Server {
	t.Helper()
	cfg := server.Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", filepath.Join(t.TempDir(), "server")
	tweak(&cfg)
	s, err := server.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// gate stands between a client and a real server's HTTP API: it can play
// a server that is down (connections cut) or a network that loses the
// answer to an upload after the server stored it.
type gate struct {
	*httptest.Server
	down       atomic.Bool
	loseAnswer atomic.Int32 // uploads whose answer is lost
	uploads    atomic.Int32 // envelope uploads that reached the server
	// holdNext uploads are answered as stored but kept back (a relay that
	// drops or delays them) until release.
	holdNext atomic.Int32
	mu       sync.Mutex
	held     []*http.Request
	proxy    *httputil.ReverseProxy
}

// release forwards the uploads held back so far.
func (g *gate) release(t *testing.T) {
	g.mu.Lock()
	held := g.held
	g.held = nil
	g.mu.Unlock()
	for _, r := range held {
		rec := httptest.NewRecorder()
		g.proxy.ServeHTTP(rec, r)
		if rec.Code != http.StatusAccepted && rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
			t.Fatalf("releasing a held upload: %d %s", rec.Code, rec.Body)
		}
	}
}

func newGate(t *testing.T, target string) *gate {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	g.proxy = proxy
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cut := func() {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}
		if g.down.Load() {
			cut()
			return
		}
		upload := r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/envelopes")
		if upload {
			g.uploads.Add(1)
		}
		if upload && g.holdNext.Load() > 0 {
			g.holdNext.Add(-1)
			body, _ := io.ReadAll(r.Body)
			kept := r.Clone(context.Background())
			kept.Body = io.NopCloser(bytes.NewReader(body))
			kept.RequestURI = ""
			g.mu.Lock()
			g.held = append(g.held, kept)
			g.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"seq":1}`)
			return
		}
		if upload && g.loseAnswer.Load() > 0 {
			g.loseAnswer.Add(-1)
			proxy.ServeHTTP(httptest.NewRecorder(), r) // the server stores it…
			cut()                                      // …and the answer is lost
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

func texts(ms []Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

// Regression (issue 8, item 10): a message sent while the server is down
// used to be marked failed and never sent. It is queued, shown as such in
// the history, and delivered by Listen once the server answers again, in
// order and once.
func TestSendWhileServerDownIsQueuedThenDelivered(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	g := newGate(t, srv.HTTPURL())
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: g.URL}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	if _, err := alice.Send(ctx, "bob", "before"); err != nil {
		t.Fatal(err)
	}

	g.down.Store(true)
	for _, text := range []string{"offline 1", "offline 2"} {
		m, err := alice.Send(ctx, "bob", text)
		if !errors.Is(err, ErrQueued) || !errors.Is(err, ErrServerUnreachable) {
			t.Fatalf("send %q with the server down: %v, want ErrQueued wrapping ErrServerUnreachable", text, err)
		}
		if m == nil || m.State != StateSending || m.Error == "" {
			t.Fatalf("send %q: message %+v, want state sending with a reason", text, m)
		}
	}
	h, err := alice.History(ctx, "bob", 0)
	if err != nil || len(h) != 3 || h[1].State != StateSending || h[2].State != StateSending {
		t.Fatalf("history while down: %+v %v", h, err)
	}
	if p, err := alice.Pending(ctx); err != nil || len(p) != 2 || p[0].Text != "offline 1" {
		t.Fatalf("pending: %+v %v", p, err)
	}

	g.down.Store(false)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sent := make(chan Message, 4)
	done := make(chan error, 1)
	go func() {
		done <- alice.Listen(lctx, func(e Event) {
			if e.Sent != nil {
				sent <- *e.Sent
			}
		})
	}()
	for i := range 2 {
		select {
		case m := <-sent:
			if m.State != StateSent || m.Text != fmt.Sprint("offline ", i+1) {
				t.Fatalf("background delivery %d: %+v", i, m)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("queued message %d never delivered", i+1)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := bob.Sync(ctx)
	if err != nil || strings.Join(texts(got), "|") != "before|offline 1|offline 2" {
		t.Fatalf("bob got %q %v", texts(got), err)
	}
	if p, err := alice.Pending(ctx); err != nil || len(p) != 0 {
		t.Fatalf("pending after delivery: %+v %v", p, err)
	}
}

// Regression (issue 8, item 14): an upload whose answer was lost after the
// server stored it is retried with the same envelope and message id, so
// the recipient shows it once.
func TestRetryAfterLostAnswerIsNotDuplicated(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	g := newGate(t, srv.HTTPURL())
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: g.URL}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	for _, text := range []string{"one", "two"} {
		g.loseAnswer.Store(1)
		if _, err := alice.Send(ctx, "bob", text); !errors.Is(err, ErrQueued) {
			t.Fatalf("send with a lost answer: %v, want ErrQueued", err)
		}
	}
	before := g.uploads.Load()
	rep, err := alice.RetrySends(ctx)
	if err != nil || len(rep.Delivered) != 2 || len(rep.Waiting) != 0 {
		t.Fatalf("retry: %+v %v", rep, err)
	}
	if n := g.uploads.Load() - before; n != 2 {
		t.Fatalf("retry uploaded %d envelopes, want 2", n)
	}
	got, err := bob.Sync(ctx)
	if err != nil || strings.Join(texts(got), "|") != "one|two" {
		t.Fatalf("bob got %q %v, want each message once", texts(got), err)
	}
}

// Regression (issue 8, item 10): a send refused with mailbox_full used to
// show in the history like a delivered one and was never retried. It
// stays queued with the reason and goes out once the mailbox has room.
func TestMailboxFullIsRetried(t *testing.T) {
	ctx := context.Background()
	srv := startServerWith(t, func(c *server.Config) { c.MailboxMaxCount, c.MailboxSenderShare = 2, 1 })
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	for _, text := range []string{"m1", "m2"} {
		if _, err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
	}
	m, err := alice.Send(ctx, "bob", "m3")
	if !errors.Is(err, ErrQueued) || m.State != StateSending || !strings.Contains(m.Error, "mailbox") {
		t.Fatalf("send to a full mailbox: %+v %v", m, err)
	}
	h, _ := alice.History(ctx, "bob", 0)
	if len(h) != 3 || h[2].State != StateSending || h[0].State != StateSent {
		t.Fatalf("history: %+v", h)
	}
	if got, err := bob.Sync(ctx); err != nil || len(got) != 2 {
		t.Fatalf("bob's first sync: %q %v", texts(got), err)
	}
	rep, err := alice.RetrySends(ctx)
	if err != nil || len(rep.Delivered) != 1 || rep.Delivered[0].Text != "m3" || rep.Delivered[0].State != StateSent {
		t.Fatalf("retry: %+v %v", rep, err)
	}
	if got, err := bob.Sync(ctx); err != nil || strings.Join(texts(got), "|") != "m3" {
		t.Fatalf("bob's second sync: %q %v", texts(got), err)
	}
}

// Regression (issue 8, item 10): a bulk send used to stop at the server's
// rate limit. Send waits as the server asks, and every message goes out.
func TestBulkSendSlowsDownAtTheRateLimit(t *testing.T) {
	ctx := context.Background()
	srv := startServerWith(t, func(c *server.Config) { c.SendRate, c.SendBurst = 20, 5 })
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	const n = 40
	var want []string
	for i := range n {
		text := fmt.Sprintf("bulk %02d", i)
		want = append(want, text)
		if m, err := alice.Send(ctx, "bob", text); err != nil || m.State != StateSent {
			t.Fatalf("message %d: %+v %v", i, m, err)
		}
	}
	got, err := bob.Sync(ctx)
	if err != nil || strings.Join(texts(got), "|") != strings.Join(want, "|") {
		t.Fatalf("bob got %q %v", texts(got), err)
	}
}

// Regression (issue 8, item 12): a group message used to be marked sent
// even when a member's mailbox refused it. The refused member is retried
// from the outbox and the message shows who it still waits for.
func TestPartialGroupSendIsRetriedForTheMissingMember(t *testing.T) {
	ctx := context.Background()
	srv := startServerWith(t, func(c *server.Config) { c.MailboxMaxCount, c.MailboxSenderShare = 6, 1 })
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	carol := create(t, Options{Home: filepath.Join(dir, "c"), Passphrase: []byte("pc"), ServerURL: srv.HTTPURL()}, "carol")
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Group("team").Send(ctx, "hello team"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, carol} {
		if got, err := c.Sync(ctx); err != nil || len(got) != 1 {
			t.Fatalf("%s: %q %v", c.Username(), texts(got), err)
		}
	}
	// Bob fills carol's mailbox.
	for i := 0; ; i++ {
		if _, err := bob.Send(ctx, "carol", fmt.Sprint("filler ", i)); errors.Is(err, ErrQueued) {
			break
		} else if err != nil || i > 10 {
			t.Fatalf("filling carol's mailbox: %v after %d", err, i)
		}
	}
	m, err := alice.Group("team").Send(ctx, "second")
	if !errors.Is(err, ErrQueued) || m.State != StateSending || !strings.Contains(m.Error, "carol") {
		t.Fatalf("group send with carol's mailbox full: %+v %v", m, err)
	}
	if got, err := bob.Sync(ctx); err != nil || strings.Join(texts(got), "|") != "second" {
		t.Fatalf("bob: %q %v", texts(got), err)
	}
	if _, err := carol.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := alice.RetrySends(ctx)
	if err != nil || len(rep.Delivered) != 1 || rep.Delivered[0].Text != "second" {
		t.Fatalf("retry: %+v %v", rep, err)
	}
	got, err := carol.Sync(ctx)
	if err != nil || !strings.Contains(strings.Join(texts(got), "|"), "second") {
		t.Fatalf("carol after the retry: %q %v", texts(got), err)
	}
	if again, err := bob.Sync(ctx); err != nil || len(again) != 0 {
		t.Fatalf("bob got the retry again: %q %v", texts(again), err)
	}
}

func TestBackoffHonoursTheServerAndIsBounded(t *testing.T) {
	if d := retryDelay(1, 0); d != outboxFirstBackoff {
		t.Fatalf("first backoff %v", d)
	}
	if d := retryDelay(3, 0); d != 4*outboxFirstBackoff {
		t.Fatalf("third backoff %v", d)
	}
	if d := retryDelay(50, 0); d != outboxMaxBackoff {
		t.Fatalf("backoff after many tries %v, want the cap", d)
	}
	if d := retryDelay(1, time.Minute); d != time.Minute {
		t.Fatalf("backoff with Retry-After 1m: %v", d)
	}
}

// Regression (issue 8, item 11): when the relay dropped a message nobody
// noticed, and a message that came late looked like any other. The next
// message shows how many earlier ones are missing, and the late one is
// marked as such.
func TestGapsAndLateMessagesAreShown(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	g := newGate(t, srv.HTTPURL())
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: g.URL}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	if _, err := alice.Send(ctx, "bob", "m1"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Send(ctx, "alice", "ok"); err != nil { // the session is answered
		t.Fatal(err)
	}
	if _, err := alice.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{"m2", "m3", "m4"} {
		if i < 2 {
			g.holdNext.Store(1) // the relay loses m2 and m3 for now
		}
		if _, err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
	}
	got, err := bob.Sync(ctx)
	if err != nil || len(got) != 1 || got[0].Text != "m4" || got[0].Missing != 2 || got[0].Late {
		t.Fatalf("bob after the loss: %+v %v, want m4 showing 2 missing", got, err)
	}
	g.release(t)
	got, err = bob.Sync(ctx)
	if err != nil || strings.Join(texts(got), "|") != "m2|m3" || !got[0].Late || !got[1].Late || got[0].Missing != 0 {
		t.Fatalf("bob after the late arrival: %+v %v", got, err)
	}
	h, err := bob.History(ctx, "alice", 0)
	// History puts them in the order alice wrote them, marks kept.
	if err != nil || len(h) != 5 || strings.Join(texts(h[2:]), "|") != "m2|m3|m4" || !h[2].Late || !h[3].Late || h[4].Missing != 2 {
		t.Fatalf("history: %+v %v", h, err)
	}
}

// A pass over the outbox retires the entries it delivered retireBatch at
// a time, not one commit (an fsync) each, and reports every one of them
// sent, in order.
func TestFlushRetiresDeliveredEntriesTogether(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	g := newGate(t, srv.HTTPURL())
	st := &countingStore{Store: MemoryStore()}
	alice := create(t, Options{Storage: st, Key: make([]byte, 32), ServerURL: g.URL}, "alice")
	bob := create(t, Options{Home: filepath.Join(t.TempDir(), "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	mustSend(t, alice, "bob", "before")
	g.down.Store(true)
	const n = retireBatch + 6
	var want []string
	for i := range n {
		want = append(want, fmt.Sprint("offline ", i))
		if _, err := alice.Send(ctx, "bob", want[i]); !errors.Is(err, ErrQueued) {
			t.Fatalf("send with the server down: %v", err)
		}
	}
	g.down.Store(false)
	before := st.updates.Load()
	rep, err := alice.RetrySends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u := st.updates.Load() - before; u > 4 {
		t.Fatalf("a pass delivering %d entries ran %d write transactions, want a handful", n, u)
	}
	if got := texts(rep.Delivered); !slices.Equal(got, want) {
		t.Fatalf("reported delivered %q", got)
	}
	for _, m := range rep.Delivered {
		if m.State != StateSent || m.Error != "" {
			t.Fatalf("delivered message %+v", m)
		}
	}
	if p, err := alice.Pending(ctx); err != nil || len(p) != 0 {
		t.Fatalf("pending after the pass: %+v %v", p, err)
	}
	h, err := alice.History(ctx, "bob", 0)
	if err != nil || len(h) != n+1 || h[n].State != StateSent {
		t.Fatalf("history: %+v %v", h, err)
	}
	if got, err := bob.Sync(ctx); err != nil || len(got) != n+1 {
		t.Fatalf("bob got %q %v", texts(got), err)
	}
}
