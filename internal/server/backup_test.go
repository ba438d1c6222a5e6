package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/server"
)

// startAt starts a server on dataDir; stop shuts it down (once, also at
// the end of the test).
func startAt(t *testing.T, dataDir string) (s *server.Server, stop func()) {
	t.Helper()
	cfg := server.Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dataDir
	cfg.RegistrationsPerIPHour = -1
	var err error
	s, err = server.StartConfig(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop = sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	t.Cleanup(stop)
	return s, stop
}

// hush server backup copies a running deployment while messages flow:
// a server started on the copy serves everything acknowledged before the
// backup began — messages, an attachment's chunks, the signing key the
// clients pinned — and a client syncs it from there.
func TestBackupWhileRunningRestoresEverything(t *testing.T) {
	ctx := context.Background()
	live := filepath.Join(t.TempDir(), "live")
	s, stopLive := startAt(t, live)
	homes := t.TempDir()
	opts := func(name string) hush.Options {
		return hush.Options{Home: filepath.Join(homes, name), Passphrase: []byte("p"), ServerURL: s.HTTPURL()}
	}
	alice, err := hush.Create(ctx, opts("alice"), "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	alice.Close()
	bob, err := hush.Create(ctx, opts("bob"), "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	file := make([]byte, 3<<20) // several chunks
	rand.Read(file)
	fpath := filepath.Join(t.TempDir(), "photo.bin")
	if err := os.WriteFile(fpath, file, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendFile(ctx, "alice", fpath, nil); err != nil {
		t.Fatal(err)
	}

	// Bob keeps sending while the backup runs.
	sent := make(chan int, 1000) // how many sends had returned
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := bob.Send(ctx, "alice", fmt.Sprintf("m%d", i)); err != nil {
				done <- err
				return
			}
			sent <- i + 1
		}
	}()
	before := 0
	for before < 5 { // messages are flowing
		before = <-sent
	}
	drain := func() {
		for {
			select {
			case n := <-sent:
				before = n
			default:
				return
			}
		}
	}
	drain() // every send acknowledged so far precedes the backup
	copyDir := filepath.Join(t.TempDir(), "copy")
	cfg := server.Defaults()
	cfg.DataDir = live
	res, err := server.Backup(ctx, cfg, copyDir)
	if err != nil {
		t.Fatal(err)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res.Chunks == 0 || res.Fingerprint != s.Fingerprint() {
		t.Fatalf("backup %+v: no chunks, or not the server's key %s", res, s.Fingerprint())
	}
	if _, err := server.Backup(ctx, cfg, copyDir); err == nil {
		t.Fatal("a backup into a directory that is not empty went ahead")
	}
	stopLive()
	if err := os.RemoveAll(live); err != nil { // the live data is lost
		t.Fatal(err)
	}

	restored, _ := startAt(t, copyDir)
	if restored.Fingerprint() != s.Fingerprint() {
		t.Fatalf("restored server signs with %s, was %s", restored.Fingerprint(), s.Fingerprint())
	}
	a, err := hush.Open(ctx, hush.Options{Home: filepath.Join(homes, "alice"), Passphrase: []byte("p")})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetConfig(ctx, "server", restored.HTTPURL()); err != nil {
		t.Fatal(err)
	}
	a.Close()
	a, err = hush.Open(ctx, hush.Options{Home: filepath.Join(homes, "alice"), Passphrase: []byte("p")})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	msgs, err := a.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	var fileMsg *hush.Message
	for i := range msgs {
		if msgs[i].Attachment != nil {
			fileMsg = &msgs[i]
		} else {
			texts = append(texts, msgs[i].Text)
		}
	}
	if len(texts) < before {
		t.Fatalf("alice synced %d messages from the restored server; %d were acknowledged before the backup", len(texts), before)
	}
	for i := range before {
		if texts[i] != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d is %q", i, texts[i])
		}
	}
	if fileMsg == nil {
		t.Fatal("the attachment's message was not restored")
	}
	var got bytes.Buffer
	if err := a.DownloadToWriter(ctx, fileMsg.ID, &got, nil); err != nil {
		t.Fatalf("download from the restored server: %v", err)
	}
	if !bytes.Equal(got.Bytes(), file) {
		t.Fatal("the restored attachment differs")
	}
}
