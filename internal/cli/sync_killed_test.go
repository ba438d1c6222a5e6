package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/server"
)

// A `hush sync` killed (SIGKILL) in the middle of draining a backlog,
// again and again at different moments, loses nothing and stores nothing
// twice: after a last sync runs to the end, the history holds every
// message exactly once. Sync stores a page of envelopes per transaction
// and acknowledges it after the commit, so the kills land inside batches.
func TestSyncKilledMidDrainKeepsEveryMessageOnce(t *testing.T) {
	bin, err := exec.LookPath("hush") // this test binary, as TestMain set it up
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := server.StartLocal(ctx, filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	const pass = "pw"
	bobHome := filepath.Join(dir, "bob")
	bob, err := hush.Create(ctx, hush.Options{Home: bobHome, Passphrase: []byte(pass), ServerURL: srv.HTTPURL()}, "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	bob.Close()
	alice, err := hush.Create(ctx, hush.Options{Storage: hush.MemoryStore(), Key: make([]byte, 32), ServerURL: srv.HTTPURL()}, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	const n = 1500 // several pages
	for i := range n {
		if _, err := alice.Send(ctx, "bob", fmt.Sprintf("message %04d", i)); err != nil {
			t.Fatal(err)
		}
	}

	sync := func() *exec.Cmd {
		cmd := exec.Command(bin, "--home", bobHome, "sync", "--json")
		cmd.Env = append(os.Environ(), "HUSH_PASSPHRASE="+pass)
		return cmd
	}
	stored := func() map[string]int {
		t.Helper()
		c, err := hush.Open(ctx, hush.Options{Home: bobHome, Passphrase: []byte(pass)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hist, err := c.History(ctx, "alice", 2*n)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, m := range hist {
			seen[m.Text]++
		}
		return seen
	}
	// Kill later each time nothing new was stored (the process was still
	// opening the profile), until the backlog is drained or enough kills
	// landed in the middle of it.
	delay, midDrain, last := 300*time.Millisecond, 0, 0
	for kills := 0; kills < 12 && midDrain < 4; kills++ {
		cmd := sync()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		seen := stored()
		for text, k := range seen {
			if k > 1 {
				t.Fatalf("after kill %d: %q stored %d times", kills+1, text, k)
			}
		}
		t.Logf("kill %d after %s: %d messages stored", kills+1, delay, len(seen))
		switch {
		case len(seen) == n:
			kills = 12 // drained before the kill
		case len(seen) == last:
			delay += delay / 2
		default:
			midDrain++
			delay = 300*time.Millisecond + time.Duration(kills%3)*150*time.Millisecond
		}
		last = len(seen)
	}
	if midDrain == 0 {
		t.Fatal("no kill landed in the middle of the drain")
	}
	if out, err := sync().CombinedOutput(); err != nil {
		t.Fatalf("sync after the kills: %v\n%s", err, out)
	}
	seen := stored()
	for i := range n {
		text := fmt.Sprintf("message %04d", i)
		if seen[text] != 1 {
			t.Fatalf("%q stored %d times", text, seen[text])
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages stored, want %d", len(seen), n)
	}
}
