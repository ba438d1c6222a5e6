package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
)

// buildHush compiles the hush binary once per test run.
func buildHush(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hush")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/hush-chat/hush/cmd/hush").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess runs `hush server` on port 0 and returns its HTTP URL.
func startProcess(t *testing.T, bin, dataDir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "server", "--listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", "--data", dataDir, "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 3)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		if !ok || !strings.HasPrefix(l, "http://") {
			t.Fatalf("first line %q, want the HTTP URL", l)
		}
		return cmd, l
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start")
	}
	return nil, ""
}

// TestKillNineLosesNothingAcknowledged sends a stream of envelopes from
// several goroutines, kills the server with SIGKILL in the middle, restarts
// it on the same data directory and checks that every envelope whose send
// was acknowledged is there exactly once.
func TestKillNineLosesNothingAcknowledged(t *testing.T) {
	bin := buildHush(t)
	data := t.TempDir()
	cmd, url := startProcess(t, bin, data)
	ctx := context.Background()
	c := apiclient.New(url, nil)
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	alice.register(t, c, 0)
	bob.register(t, c, 0)
	as, err := c.Login(ctx, "alice", alice.dev)
	if err != nil {
		t.Fatal(err)
	}
	mailbox := identity.MailboxID(bob.id.Public(), 1)

	const workers, killAfter = 4, 300
	var (
		mu    sync.Mutex
		acked = map[uint64]int64{} // counter -> seq
		wg    sync.WaitGroup
		next  uint64
		once  sync.Once
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				next++
				n := next
				mu.Unlock()
				env := make([]byte, 300)
				env[0] = 0x01 // a sealed envelope's version byte; the rest is opaque to the relay
				binary.BigEndian.PutUint64(env[1:], n)
				seq, err := c.Send(ctx, as.Token, mailbox, env)
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[n] = seq
				count := len(acked)
				mu.Unlock()
				if count >= killAfter {
					once.Do(func() { cmd.Process.Signal(syscall.SIGKILL) })
				}
			}
		}()
	}
	wg.Wait()
	cmd.Wait()
	if len(acked) < killAfter {
		t.Fatalf("only %d sends acknowledged before the server died", len(acked))
	}

	_, url = startProcess(t, bin, data)
	c = apiclient.New(url, nil)
	bs, err := c.Login(ctx, "bob", bob.dev)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]int{}
	var after int64
	for {
		page, err := c.Fetch(ctx, bs.Token, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			seen[binary.BigEndian.Uint64(e.Envelope[1:9])]++
			after = e.Seq
		}
	}
	for n, seq := range acked {
		if seen[n] != 1 {
			t.Errorf("acknowledged envelope %d (seq %d) found %d times after the crash", n, seq, seen[n])
		}
	}
	for n, k := range seen {
		if k > 1 {
			t.Errorf("envelope %d stored %d times", n, k)
		}
	}
	t.Logf("%d acknowledged before SIGKILL, %d stored after restart", len(acked), len(seen))
}
