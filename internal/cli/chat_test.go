package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/server"
)

// ptyOutput collects what a program writes to its terminal.
type ptyOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (p *ptyOutput) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Write(b)
}

func (p *ptyOutput) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		ok := strings.Contains(p.buf.String(), s)
		p.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("terminal never showed %q", s)
}

// TestChatInPseudoTerminal drives `hush chat bob` through a real
// pseudo-terminal against a real server: Alice types a line, Bob receives
// it, Bob replies, and the reply appears on Alice's screen.
func TestChatInPseudoTerminal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := server.StartLocal(ctx, filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	pw := []byte("pw")
	for _, u := range []string{"alice", "bob"} {
		c, err := hush.Create(ctx, hush.Options{Home: filepath.Join(dir, u), Passphrase: pw, ServerURL: srv.HTTPURL()}, u, "")
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}

	cmd, tty, out := startChat(t, filepath.Join(dir, "alice"), "bob")
	out.waitFor(t, "bob")

	if _, err := tty.Write([]byte("attack at dawn\r")); err != nil {
		t.Fatal(err)
	}
	bob, err := hush.Open(ctx, hush.Options{Home: filepath.Join(dir, "bob"), Passphrase: pw})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	got := ""
	for deadline := time.Now().Add(20 * time.Second); got == "" && time.Now().Before(deadline); {
		ms, err := bob.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			got = m.Text
		}
		if got == "" {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got != "attack at dawn" {
		t.Fatalf("bob received %q", got)
	}
	if _, err := bob.Send(ctx, "alice", "confirmed north gate"); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "confirmed north gate")

	quitChat(t, cmd, tty)
}

func copyAll(w *ptyOutput, r *os.File) (int64, error) {
	var n int64
	b := make([]byte, 4096)
	for {
		k, err := r.Read(b)
		if k > 0 {
			w.Write(b[:k])
			n += int64(k)
		}
		if err != nil {
			return n, err
		}
	}
}

// TestGroupChatInPseudoTerminal drives `hush chat '#team'`: a line typed in
// the chat screen reaches the other member through the group.
func TestGroupChatInPseudoTerminal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := server.StartLocal(ctx, filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	pw := []byte("pw")
	open := func(u string) *hush.Client {
		c, err := hush.Create(ctx, hush.Options{Home: filepath.Join(dir, u), Passphrase: pw, ServerURL: srv.HTTPURL()}, u, "")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	alice, bob := open("alice"), open("bob")
	if _, err := alice.CreateGroup(ctx, "team", hush.GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	alice.Close()
	if _, err := bob.Sync(ctx); err != nil { // bob learns the group and alice's key
		t.Fatal(err)
	}

	cmd, tty, out := startChat(t, filepath.Join(dir, "alice"), "#team")
	out.waitFor(t, "#team")
	if _, err := tty.Write([]byte("hello team\r")); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "✓")
	got := ""
	for deadline := time.Now().Add(20 * time.Second); got == "" && time.Now().Before(deadline); {
		ms, err := bob.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Peer == "#team" {
				got = m.From + ": " + m.Text
			}
		}
		if got == "" {
			time.Sleep(50 * time.Millisecond)
		}
	}
	bob.Close()
	if got != "alice: hello team" {
		t.Fatalf("bob read %q", got)
	}
	quitChat(t, cmd, tty)
}

// startChat runs `hush chat peer` for the profile in home on a
// pseudo-terminal and collects what it draws.
func startChat(t *testing.T, home, peer string) (*exec.Cmd, *os.File, *ptyOutput) {
	t.Helper()
	bin, err := exec.LookPath("hush")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--home", home, "chat", peer)
	cmd.Env = append(os.Environ(), "HUSH_PASSPHRASE=pw", "TERM=xterm-256color")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	out := &ptyOutput{}
	go func() { _, _ = copyAll(out, tty) }()
	return cmd, tty, out
}

// quitChat types /quit and waits for the chat to exit cleanly.
func quitChat(t *testing.T, cmd *exec.Cmd, tty *os.File) {
	t.Helper()
	if _, err := tty.Write([]byte("/quit\r")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hush chat exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("hush chat did not quit")
	}
}

// Regression (issue 8, item 5): with a chat open on bob, a message from
// carol used to be fetched, stored and never shown anywhere. The chat
// screen announces it, and the next hush sync prints it.
func TestChatAnnouncesOtherConversationsAndSyncShowsThem(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := server.StartLocal(ctx, filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	pw := []byte("pw")
	var carol *hush.Client
	for _, u := range []string{"alice", "bob", "carol"} {
		c, err := hush.Create(ctx, hush.Options{Home: filepath.Join(dir, u), Passphrase: pw, ServerURL: srv.HTTPURL()}, u, "")
		if err != nil {
			t.Fatal(err)
		}
		if u == "carol" {
			carol = c
			defer c.Close()
		} else {
			c.Close()
		}
	}
	cmd, tty, out := startChat(t, filepath.Join(dir, "alice"), "bob")
	out.waitFor(t, "bob")
	if _, err := carol.Send(ctx, "alice", "psst, over here"); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "1 unread message from carol")
	quitChat(t, cmd, tty)

	var stdout, stderr bytes.Buffer
	t.Setenv("HUSH_PASSPHRASE", "pw")
	if rc := Main([]string{"--home", filepath.Join(dir, "alice"), "sync"}, strings.NewReader(""), &stdout, &stderr); rc != 0 {
		t.Fatalf("sync: rc %d: %s", rc, stderr.String())
	}
	if !strings.Contains(stdout.String(), "carol: psst, over here") {
		t.Fatalf("sync after the chat printed %q, want carol's message", stdout.String())
	}
	stdout.Reset()
	if rc := Main([]string{"--home", filepath.Join(dir, "alice"), "sync"}, strings.NewReader(""), &stdout, &stderr); rc != 0 || stdout.Len() != 0 {
		t.Fatalf("a second sync printed %q (rc %d), want nothing", stdout.String(), rc)
	}
}

// Regression (issue 8, item 20): a file message showed as an empty line in
// a chat. It reads as hush sync prints it.
func TestChatShowsFileMessages(t *testing.T) {
	m := toTUI(hush.Message{ID: "0123abcd", From: "alice", Attachment: &hush.Attachment{Name: "plan.pdf", Size: 2048}})
	if want := "[file plan.pdf, 2048 bytes: hush get 0123abcd]"; m.Text != want {
		t.Fatalf("chat line %q, want %q", m.Text, want)
	}
	memo := toTUI(hush.Message{ID: "01", Text: "a long text", Attachment: &hush.Attachment{Name: "memo.txt", Memo: true}})
	if memo.Text != "a long text" {
		t.Fatalf("memo line %q", memo.Text)
	}
}

// Regression (issue 8, item 20): membership changes did not show in a
// chat. A chat open on the group shows them as notices.
func TestGroupChatShowsMembershipChanges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := server.StartLocal(ctx, filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	pw := []byte("pw")
	var cs []*hush.Client
	for _, u := range []string{"alice", "bob", "carol"} {
		c, err := hush.Create(ctx, hush.Options{Home: filepath.Join(dir, u), Passphrase: pw, ServerURL: srv.HTTPURL()}, u, "")
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	alice, bob := cs[0], cs[1]
	defer alice.Close()
	cs[2].Close()
	if _, err := alice.CreateGroup(ctx, "team", hush.GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	bob.Close()
	cmd, tty, out := startChat(t, filepath.Join(dir, "bob"), "#team")
	out.waitFor(t, "#team")
	if _, err := alice.AddMember(ctx, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "#team: alice added carol")
	quitChat(t, cmd, tty)
}

// TestChatRefusedWhileAnotherProcessReceives: hush chat on a profile that
// a listener already receives for says so and exits, instead of opening a
// screen that would split the messages with the listener.
func TestChatRefusedWhileAnotherProcessReceives(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	srv, err := server.StartLocal(ctx, filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	cs := map[string]*hush.Client{}
	for _, u := range []string{"alice", "bob"} {
		c, err := hush.Create(ctx, hush.Options{Home: filepath.Join(dir, u), Passphrase: []byte("pw"), ServerURL: srv.HTTPURL()}, u, "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs[u] = c
	}
	got := make(chan struct{}, 1)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go cs["bob"].Listen(lctx, func(e hush.Event) {
		if e.Message != nil {
			got <- struct{}{}
		}
	})
	if _, err := cs["alice"].Send(ctx, "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("the listener never received")
	}

	cmd, _, out := startChat(t, filepath.Join(dir, "bob"), "alice")
	out.waitFor(t, "another hush process (listen or chat) is receiving for this profile")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("hush chat succeeded while another receiver ran")
		}
	case <-ctx.Done():
		cmd.Process.Kill()
		t.Fatal("hush chat did not exit")
	}
}

// Regression (issue 8, item 14): a sync stopped after it stored messages
// and before it printed them left them where no later sync printed them.
// The next hush sync prints what was stored and not yet shown, once.
func TestSyncPrintsWhatAnInterruptedSyncStored(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := server.StartLocal(ctx, filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	pw := []byte("pw")
	cs := map[string]*hush.Client{}
	for _, u := range []string{"alice", "bob"} {
		c, err := hush.Create(ctx, hush.Options{Home: filepath.Join(dir, u), Passphrase: pw, ServerURL: srv.HTTPURL()}, u, "")
		if err != nil {
			t.Fatal(err)
		}
		cs[u] = c
	}
	defer cs["alice"].Close()
	if _, err := cs["alice"].Send(ctx, "bob", "stored, never printed"); err != nil {
		t.Fatal(err)
	}
	// What an interrupted sync leaves: stored and acknowledged, not shown.
	if got, err := cs["bob"].Sync(ctx); err != nil || len(got) != 1 {
		t.Fatalf("bob's library sync: %v %v", got, err)
	}
	cs["bob"].Close()
	t.Setenv("HUSH_PASSPHRASE", "pw")
	for i, want := range []string{"bob", ""} {
		var stdout, stderr bytes.Buffer
		if rc := Main([]string{"--home", filepath.Join(dir, "bob"), "sync"}, strings.NewReader(""), &stdout, &stderr); rc != 0 {
			t.Fatalf("sync %d: rc %d: %s", i, rc, stderr.String())
		}
		if got := stdout.String(); (want == "") != (got == "") || (want != "" && !strings.Contains(got, "alice: stored, never printed")) {
			t.Fatalf("sync %d printed %q", i, got)
		}
	}
}

// A data message carries an application's bytes: the chat screen shows
// its size, never the bytes.
func TestChatShowsDataMessagesAsMarker(t *testing.T) {
	m := toTUI(hush.Message{ID: "01", From: "alice", Data: append([]byte("\x1b[2J"), make([]byte, 1230)...)})
	if want := "[data, 1,234 bytes]"; m.Text != want {
		t.Fatalf("chat line %q, want %q", m.Text, want)
	}
}
