package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hush-chat/hush/internal/apiclient"
)

// limitFileSize makes every file of this process unable to grow past its
// largest database file plus a little, as a full disk would, until the
// returned function lifts the limit. Go ignores SIGXFSZ, so a write past
// the limit fails with EFBIG.
func limitFileSize(t *testing.T, dataDir string) func() {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skip("no RLIMIT_FSIZE:", err)
	}
	var largest int64
	for _, name := range []string{"hush.db", "hush.db-wal"} {
		if fi, err := os.Stat(filepath.Join(dataDir, name)); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	lim := syscall.Rlimit{Cur: uint64(largest + 256<<10), Max: old.Max}
	if old.Cur < lim.Cur {
		t.Skip("the file size limit is already lower")
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skip("cannot set RLIMIT_FSIZE:", err)
	}
	lifted := false
	lift := func() {
		if !lifted {
			lifted = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(lift)
	return lift
}

// Regression (issue 9 item 11): on a full disk sends were answered 500,
// a correct login answer 401 challenge_failed and /healthz 200. With the
// database files unable to grow, sends, logins and /healthz answer 503
// unavailable with a Retry-After, the cause is logged, and all recover
// once there is room again.
func TestFullDiskIsUnavailable(t *testing.T) {
	dataDir := t.TempDir()
	s, logs := startLoggedServer(t, dataDir)
	api := apiclient.New(s.HTTPURL(), nil)
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	alice.register(t, api, 0)
	bob.register(t, api, 0)
	ctx := context.Background()
	sa, err := api.Login(ctx, alice.name, alice.dev)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := api.Login(ctx, bob.name, bob.dev)
	nonce, err := challenge(api, s, alice)
	if err != nil {
		t.Fatal(err)
	}

	lift := limitFileSize(t, dataDir)
	// Fill the disk: send until the server cannot store any more, with
	// smaller and smaller envelopes to take the last of the room.
	for _, size := range []int{64 << 10, 4 << 10, 100} {
		sent := 0
		for ; sent < 1000; sent++ {
			if _, err = api.Send(ctx, sa.Token, sb.Mailbox, envelopeOf(size)); err != nil {
				break
			}
		}
		t.Logf("%d more envelopes of %d bytes stored", sent, size)
		wantUnavailable(t, "send on a full disk", err)
	}
	code, retry, body := healthz(t, s, 503)
	t.Logf("healthz on a full disk: %d (Retry-After %s) %s", code, retry, body)
	// A write past RLIMIT_FSIZE fails with EFBIG, which SQLite reports as
	// an I/O error (a real full disk, ENOSPC, is "disk or database full").
	if code != 503 || retry == "" || !strings.Contains(body, "disk") {
		t.Fatal("want 503 with the reason and a Retry-After")
	}
	if e := answer(s, alice, nonce); e.Status != 503 || e.Code != "unavailable" || e.RetryAfter <= 0 {
		t.Fatalf("correct login answer on a full disk: %d %s, want 503 unavailable", e.Status, e.Code)
	}
	_, err = api.Login(ctx, alice.name, alice.dev)
	wantUnavailable(t, "login on a full disk", err)
	for _, want := range []string{"healthz: the store cannot take writes", "relay: store commit failed", "auth: login failed", "disk I/O error"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs.String())
		}
	}

	lift() // the operator makes room
	if code, _, body := healthz(t, s, 200); code != 200 {
		t.Fatalf("healthz after room was made: %d %s", code, body)
	}
	if _, err := api.Send(ctx, sa.Token, sb.Mailbox, envelopeOf(64<<10)); err != nil {
		t.Fatalf("send after room was made: %v", err)
	}
	if _, err := api.Login(ctx, alice.name, alice.dev); err != nil {
		t.Fatalf("login after room was made: %v", err)
	}
}
