package hush_test

// Cross-version compatibility (issue 11, item 4): testdata/v1conversation
// holds a server's data directory and three profiles written by protocol
// version 1 in the middle of a conversation. TestV1ConversationContinues
// loads them with the code under test and carries the conversation on;
// TestGenerateV1Conversation (with -update-v1) wrote them. Regenerate only
// with code that still writes version 1: the point of the fixture is that
// it was made by the old release.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/server"
)

var updateV1 = flag.Bool("update-v1", false, "regenerate testdata/v1conversation with the current code (protocol version 1 only)")

const v1Fixture = "testdata/v1conversation"

// The conversation the fixture holds, as TestGenerateV1Conversation wrote
// it; the test checks what arrives against these texts.
var (
	v1Users = []string{"alice", "bob", "carol"}

	// Alice and bob, both ways, all received.
	v1AliceBobDone = []string{"alice 1", "bob 1", "alice 2", "alice 3", "bob 2", "bob 3"}
	// Alice to bob on one chain: "alice 4" was held back by the relay
	// while "alice 5" went through (bob's session keeps the skipped key),
	// then bob answered ("bob 4") and alice moved to a new chain.
	v1Held         = "alice 4 (held back)"
	v1AliceBobOOO  = []string{"alice 5", "bob 4"}
	v1BobWaiting   = []string{v1Held, "alice 6", "alice 7", "alice 8"} // in bob's mailbox, in this order
	v1AliceOutbox  = "alice 9 (queued while the server was down)"      // in alice's outbox, never uploaded
	v1CarolBobDone = []string{"carol to bob 1", "bob to carol 1"}

	// The group: bob made it with alice and carol. Carol read the first
	// message; alice's first message to carol (a prekey message: carol
	// never heard from alice) and two group messages wait for her.
	v1Group        = "team"
	v1GroupDone    = []string{"team 1 from bob"}
	v1CarolWaiting = []string{"alice to carol 1 (prekey)", "team 2 from alice", "team 3 from bob"}
)

func v1Passphrase(user string) []byte { return []byte(user + " v1 passphrase") }

// v1ServerConfig is the server the generator and the test run on dataDir.
// Envelopes are kept for a century so that the fixture's waiting ones do
// not expire before a test reads them.
func v1ServerConfig(dataDir string) server.Config {
	cfg := server.Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dataDir
	cfg.RegistrationsPerIPHour = -1
	cfg.EnvelopeTTL.Duration = 100 * 365 * 24 * time.Hour
	return cfg
}

// TestV1ConversationContinues opens the version-1 fixture with the
// current code: every waiting envelope, the queued send and the skipped
// message key still deliver exactly once, and each pair and the group
// carry on talking in both directions.
func TestV1ConversationContinues(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	v1CopyFixture(t, v1Fixture, dir)
	srv, err := server.StartConfig(ctx, v1ServerConfig(filepath.Join(dir, "server")), nil)
	if err != nil {
		t.Fatalf("starting a server on the version-1 data directory: %v", err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	// The clients live more than a year after the fixture, whenever the
	// test runs: the signed prekeys are due for rotation, the queued send
	// is older than the outbox keeps retrying a failing one.
	later := func() time.Time { return time.Now().Add(400 * 24 * time.Hour) }
	cs := map[string]*hush.Client{}
	for _, u := range v1Users {
		// The profiles name the generator's server: point them at this one.
		c, err := hush.Open(ctx, hush.Options{Home: filepath.Join(dir, u), Passphrase: v1Passphrase(u), ServerURL: srv.HTTPURL(), Now: later})
		if err != nil {
			t.Fatalf("opening %s's version-1 profile: %v", u, err)
		}
		t.Cleanup(func() { c.Close() })
		cs[u] = c
	}
	alice, bob, carol := cs["alice"], cs["bob"], cs["carol"]

	// Bob's mailbox: the held-back message (read with the skipped key his
	// stored session kept) and the three after it, once and in order.
	got := v1Sync(t, bob, v1BobWaiting...)
	if !got[0].Late || got[0].Peer != "alice" {
		t.Fatalf("the held-back message: %+v, want it from alice marked late", got[0])
	}
	for _, m := range got {
		if m.Missing != 0 {
			t.Fatalf("bob's %q shows %d missing messages, want none", m.Text, m.Missing)
		}
	}
	v1Sync(t, bob)

	// Alice's outbox: the envelope queued by version 1 goes out once.
	if p, err := alice.Pending(ctx); err != nil || len(p) != 1 || p[0].Text != v1AliceOutbox {
		t.Fatalf("alice's outbox: %q %v, want the queued message", v1Texts(p), err)
	}
	rep, err := alice.RetrySends(ctx)
	if err != nil || len(rep.Delivered) != 1 || rep.Delivered[0].Text != v1AliceOutbox || rep.Delivered[0].State != hush.StateSent ||
		len(rep.Waiting) != 0 || len(rep.Failed) != 0 || rep.Other != 0 {
		t.Fatalf("retrying alice's outbox: %+v %v", rep, err)
	}
	if p, err := alice.Pending(ctx); err != nil || len(p) != 0 {
		t.Fatalf("alice's outbox after the retry: %q %v", v1Texts(p), err)
	}
	if rep, err := alice.RetrySends(ctx); err != nil || len(rep.Delivered)+len(rep.Waiting)+len(rep.Failed) != 0 {
		t.Fatalf("a second retry: %+v %v, want nothing left to send", rep, err)
	}
	v1Sync(t, bob, v1AliceOutbox)
	v1Sync(t, bob)

	// Carol accepts alice's prekey message and reads the group's backlog.
	got = v1Sync(t, carol, v1CarolWaiting...)
	if got[0].Peer != "alice" || got[1].Peer != "#"+v1Group || got[2].Peer != "#"+v1Group || got[2].From != "bob" {
		t.Fatalf("carol's backlog: %+v", got)
	}
	v1Sync(t, carol)
	for _, u := range []string{"alice", "bob"} { // nothing arrived for them meanwhile
		v1Sync(t, cs[u])
	}

	// Every pair carries on, both ways, then the group, each member once.
	after := func(from, to string) string { return "after v1: " + from + " to " + to }
	for _, p := range [][2]string{{"alice", "bob"}, {"bob", "alice"}, {"alice", "carol"}, {"carol", "alice"}, {"bob", "carol"}, {"carol", "bob"}} {
		v1Send(t, cs[p[0]], p[1], after(p[0], p[1]))
		v1Sync(t, cs[p[1]], after(p[0], p[1]))
	}
	for _, u := range v1Users {
		text := after(u, "#"+v1Group)
		m, err := cs[u].Group(v1Group).Send(ctx, text)
		if err != nil || m.State != hush.StateSent {
			t.Fatalf("%s to the group: %+v %v", u, m, err)
		}
		for _, o := range v1Users {
			if o != u {
				v1Sync(t, cs[o], text)
			}
		}
	}
	for _, u := range v1Users {
		v1Sync(t, cs[u])
	}

	// Every history holds each message exactly once, and both sides of a
	// conversation hold the same message ids.
	conv := func(a, b string, more ...string) []string {
		return append(more, after(a, b), after(b, a))
	}
	histories := map[string][]string{ // conversation → every text in it
		"alice|bob":   conv("alice", "bob", slices.Concat(v1AliceBobDone, v1AliceBobOOO, v1BobWaiting, []string{v1AliceOutbox})...),
		"alice|carol": conv("alice", "carol", v1CarolWaiting[0]),
		"bob|carol":   conv("bob", "carol", v1CarolBobDone...),
	}
	for pair, want := range histories {
		a, b, _ := strings.Cut(pair, "|")
		ha := v1History(t, cs[a], b, want)
		hb := v1History(t, cs[b], a, want)
		if !slices.Equal(v1IDs(ha), v1IDs(hb)) {
			t.Fatalf("%s and %s hold different message ids: %v and %v", a, b, v1IDs(ha), v1IDs(hb))
		}
	}
	wantGroup := slices.Concat(v1GroupDone, v1CarolWaiting[1:])
	for _, u := range v1Users {
		wantGroup = append(wantGroup, after(u, "#"+v1Group))
	}
	var groupIDs []string
	for _, u := range v1Users {
		ids := v1IDs(v1History(t, cs[u], "#"+v1Group, wantGroup))
		if groupIDs != nil && !slices.Equal(ids, groupIDs) {
			t.Fatalf("%s's group history holds ids %v, another member's %v", u, ids, groupIDs)
		}
		groupIDs = ids
	}
	var hash string
	for _, u := range v1Users {
		info, err := cs[u].Group(v1Group).Info(ctx)
		if err != nil || len(info.Members) != 3 || (hash != "" && info.StateHash != hash) {
			t.Fatalf("%s's view of the group: %+v %v, want the three members and the state the others hold", u, info, err)
		}
		hash = info.StateHash
	}
}

// v1Sync syncs c and checks that exactly want arrived, in that order.
func v1Sync(t *testing.T, c *hush.Client, want ...string) []hush.Message {
	t.Helper()
	got, err := c.Sync(context.Background())
	if err != nil || !slices.Equal(v1Texts(got), want) {
		t.Fatalf("%s synced %q %v, want %q", c.Username(), v1Texts(got), err, want)
	}
	return got
}

func v1Send(t *testing.T, c *hush.Client, to, text string) {
	t.Helper()
	m, err := c.Send(context.Background(), to, text)
	if err != nil || m.State != hush.StateSent {
		t.Fatalf("%s to %s: %+v %v", c.Username(), to, m, err)
	}
}

// v1History returns c's history of conversation peer ("#name" for a group)
// after checking that it holds exactly the texts want, each once, with no
// message id twice, every outgoing one sent.
func v1History(t *testing.T, c *hush.Client, peer string, want []string) []hush.Message {
	t.Helper()
	var h []hush.Message
	var err error
	if g, ok := strings.CutPrefix(peer, "#"); ok {
		h, err = c.Group(g).History(context.Background(), 0)
	} else {
		h, err = c.History(context.Background(), peer, 0)
	}
	if err != nil {
		t.Fatalf("%s's history with %s: %v", c.Username(), peer, err)
	}
	got, exp := v1Texts(h), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		t.Fatalf("%s's history with %s holds %q, want each of %q once", c.Username(), peer, got, exp)
	}
	ids := v1IDs(h)
	if len(slices.Compact(ids)) != len(h) {
		t.Fatalf("%s's history with %s holds a message id twice", c.Username(), peer)
	}
	for _, m := range h {
		if want := map[bool]hush.State{true: hush.StateSent, false: hush.StateReceived}[m.Outgoing]; m.State != want {
			t.Fatalf("%s's %q to %s is %v, want %v", c.Username(), m.Text, peer, m.State, want)
		}
	}
	return h
}

// v1IDs returns the messages' ids, sorted.
func v1IDs(ms []hush.Message) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

func v1Texts(ms []hush.Message) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

// v1CopyFixture copies the fixture's directories into dir, owner-only as a
// profile directory is (git keeps neither modes nor empty directories).
func v1CopyFixture(t *testing.T, from, dir string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil || rel == "." {
			return err
		}
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		if !strings.Contains(rel, string(filepath.Separator)) {
			return nil // README.txt
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatalf("copying the version-1 fixture: %v", err)
	}
}

// TestGenerateV1Conversation writes testdata/v1conversation (with
// -update-v1). Run it only on code that writes protocol version 1.
func TestGenerateV1Conversation(t *testing.T) {
	if !*updateV1 {
		t.Skip("writes the version-1 fixture; run with -update-v1 on code that writes protocol version 1")
	}
	ctx := context.Background()
	gen := t.TempDir()
	srv, err := server.StartConfig(ctx, v1ServerConfig(filepath.Join(gen, "server")), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each user reaches the server through a relay stand-in that can hold
	// an upload back or play a server that is down, and records uploads.
	px := map[string]*v1Proxy{}
	cs := map[string]*hush.Client{}
	for _, u := range v1Users {
		px[u] = newV1Proxy(t, srv.HTTPURL())
		c, err := hush.Create(ctx, hush.Options{Home: filepath.Join(gen, u), Passphrase: v1Passphrase(u), ServerURL: px[u].URL}, u, "")
		if err != nil {
			t.Fatal(err)
		}
		cs[u] = c
	}
	alice, bob, carol := cs["alice"], cs["bob"], cs["carol"]

	// Alice and bob talk, both ways.
	v1Send(t, alice, "bob", "alice 1")
	v1Sync(t, bob, "alice 1")
	v1Send(t, bob, "alice", "bob 1")
	v1Sync(t, alice, "bob 1")
	v1Send(t, alice, "bob", "alice 2")
	v1Send(t, alice, "bob", "alice 3")
	v1Sync(t, bob, "alice 2", "alice 3")
	v1Send(t, bob, "alice", "bob 2")
	v1Send(t, bob, "alice", "bob 3")
	v1Sync(t, alice, "bob 2", "bob 3")

	// The group, made by bob; carol reads its first message and talks with
	// bob, never with alice.
	if _, err := bob.CreateGroup(ctx, v1Group, hush.GroupPrivate, []string{"alice", "carol"}); err != nil {
		t.Fatal(err)
	}
	if m, err := bob.Group(v1Group).Send(ctx, v1GroupDone[0]); err != nil || m.State != hush.StateSent {
		t.Fatalf("bob to the group: %+v %v", m, err)
	}
	v1Sync(t, alice, v1GroupDone...)
	v1Sync(t, carol, v1GroupDone...)
	v1Send(t, carol, "bob", v1CarolBobDone[0])
	v1Sync(t, bob, v1CarolBobDone[0])
	v1Send(t, bob, "carol", v1CarolBobDone[1])
	v1Sync(t, carol, v1CarolBobDone[1])
	// Neither side has a session with the other yet: what alice sends
	// carol next starts one.
	if px["carol"].uploadedTo(alice.Mailbox()) || px["alice"].uploadedTo(carol.Mailbox()) {
		t.Fatal("alice and carol exchanged envelopes before alice's first message: carol's would not be a prekey message")
	}
	v1Send(t, alice, "carol", v1CarolWaiting[0])
	if !px["alice"].uploadedTo(carol.Mailbox()) {
		t.Fatal("alice's first message to carol did not go to carol's mailbox")
	}
	if m, err := alice.Group(v1Group).Send(ctx, v1CarolWaiting[1]); err != nil || m.State != hush.StateSent {
		t.Fatalf("alice to the group: %+v %v", m, err)
	}
	v1Sync(t, bob, v1CarolWaiting[1])
	if m, err := bob.Group(v1Group).Send(ctx, v1CarolWaiting[2]); err != nil || m.State != hush.StateSent {
		t.Fatalf("bob to the group: %+v %v", m, err)
	}
	v1Sync(t, alice, v1CarolWaiting[2])

	// Out of order: the relay holds "alice 4" back, bob reads "alice 5"
	// (keeping the skipped key) and answers; "alice 4" reaches the
	// mailbox only after that.
	px["alice"].hold.Store(1)
	v1Send(t, alice, "bob", v1Held)
	v1Send(t, alice, "bob", v1AliceBobOOO[0])
	if got := v1Sync(t, bob, v1AliceBobOOO[0]); got[0].Missing != 1 {
		t.Fatalf("bob's %q shows %d missing, want 1: no skipped key was kept", got[0].Text, got[0].Missing)
	}
	v1Send(t, bob, "alice", v1AliceBobOOO[1])
	v1Sync(t, alice, v1AliceBobOOO[1])
	px["alice"].release(t)
	for _, text := range v1BobWaiting[1:] {
		v1Send(t, alice, "bob", text)
	}

	// The server is down for alice: her last message stays in the outbox.
	px["alice"].down.Store(true)
	if m, err := alice.Send(ctx, "bob", v1AliceOutbox); !errors.Is(err, hush.ErrQueued) || m == nil || m.State != hush.StateSending {
		t.Fatalf("send while the server is down: %+v %v, want it queued", m, err)
	}
	if p, err := alice.Pending(ctx); err != nil || len(p) != 1 || p[0].Text != v1AliceOutbox {
		t.Fatalf("alice's outbox: %q %v", v1Texts(p), err)
	}

	for _, c := range cs {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	writeV1Fixture(t, gen)
}

// writeV1Fixture replaces the fixture's directories with gen's, leaving
// out lock files; a database must have been closed cleanly (no
// write-ahead log left with data in it).
func writeV1Fixture(t *testing.T, gen string) {
	t.Helper()
	for _, d := range append([]string{"server"}, v1Users...) {
		if err := os.RemoveAll(filepath.Join(v1Fixture, d)); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(v1Fixture, d), 0o755); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(filepath.Join(gen, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() {
				if sub, err := os.ReadDir(filepath.Join(gen, d, name)); err != nil || len(sub) > 0 {
					t.Fatalf("%s/%s: a directory the fixture does not expect (%v)", d, name, err)
				}
				continue // empty: made again when missing
			}
			b, err := os.ReadFile(filepath.Join(gen, d, name))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasSuffix(name, ".lock"):
				continue
			case strings.HasSuffix(name, "-wal") || strings.HasSuffix(name, "-shm"):
				if len(b) > 0 && strings.HasSuffix(name, "-wal") {
					t.Fatalf("%s/%s: the database was not closed cleanly", d, name)
				}
				continue
			}
			if err := os.WriteFile(filepath.Join(v1Fixture, d, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s/%s (%d bytes)", d, name, len(b))
		}
	}
}

// v1Proxy stands between one client and the server's HTTP API.
type v1Proxy struct {
	*httptest.Server
	proxy *httputil.ReverseProxy
	down  atomic.Bool  // connections are cut, as by a server that is down
	hold  atomic.Int32 // uploads answered as stored but kept back until release
	mu    sync.Mutex
	held  []*http.Request
	paths []string // every envelope upload forwarded to the server
}

func newV1Proxy(t *testing.T, target string) *v1Proxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &v1Proxy{proxy: httputil.NewSingleHostReverseProxy(u)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		upload := r.Method == "POST" && (strings.HasSuffix(r.URL.Path, "/envelopes") || r.URL.Path == "/v1/fanout")
		if upload && p.hold.Load() > 0 {
			p.hold.Add(-1)
			body, _ := io.ReadAll(r.Body)
			kept := r.Clone(context.Background())
			kept.Body = io.NopCloser(bytes.NewReader(body))
			kept.RequestURI = ""
			p.mu.Lock()
			p.held = append(p.held, kept)
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"seq":1}`)
			return
		}
		if upload {
			p.mu.Lock()
			p.paths = append(p.paths, r.URL.Path)
			p.mu.Unlock()
		}
		p.proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// release forwards the uploads held back so far.
func (p *v1Proxy) release(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	held := p.held
	p.held = nil
	p.mu.Unlock()
	if len(held) == 0 {
		t.Fatal("no upload was held back")
	}
	for _, r := range held {
		rec := httptest.NewRecorder()
		p.proxy.ServeHTTP(rec, r)
		if rec.Code/100 != 2 {
			t.Fatalf("releasing a held upload: %d %s", rec.Code, rec.Body)
		}
		p.mu.Lock()
		p.paths = append(p.paths, r.URL.Path)
		p.mu.Unlock()
	}
}

// uploadedTo reports whether an envelope went through p to mailbox.
func (p *v1Proxy) uploadedTo(mailbox string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.paths, "/v1/mailboxes/"+mailbox+"/envelopes")
}
