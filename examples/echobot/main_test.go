package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/hushtest"
)

func TestEchobotAnswersEveryMessage(t *testing.T) {
	srv := hushtest.NewServer(t)
	alice := srv.NewClient(t, "alice")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The bot's output, line by line: the first says it is registered
	// and listening.
	pr, pw := io.Pipe()
	lines := bufio.NewScanner(pr)
	done := make(chan error, 1)
	home := t.TempDir()
	go func() {
		done <- run(ctx, pw, []string{"-server", srv.URL(), "-home", home, "-name", "echo"}, env)
		pw.Close()
	}()
	if !lines.Scan() || lines.Text() != "echo listening on "+srv.URL() {
		t.Fatalf("first line %q (%v)", lines.Text(), lines.Err())
	}

	echoes := make(chan hush.Message, 4)
	listened := make(chan error, 1)
	go func() {
		listened <- alice.Listen(ctx, func(e hush.Event) {
			if e.Message != nil {
				echoes <- *e.Message
			}
		})
	}()
	for _, text := range []string{"hello", "second message"} {
		if _, err := alice.Send(ctx, "echo", text); err != nil {
			t.Fatal(err)
		}
		if !lines.Scan() || lines.Text() != "echoed alice: "+text {
			t.Fatalf("bot printed %q (%v)", lines.Text(), lines.Err())
		}
		if m := <-echoes; m.From != "echo" || m.Text != "echo: "+text {
			t.Fatalf("alice got %+v", m)
		}
	}

	cancel()
	go io.Copy(io.Discard, pr) // whatever the bot prints while stopping
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	if err := <-listened; err != nil {
		t.Fatalf("alice listen: %v", err)
	}

	// A second run opens the profile it made: same user, same server,
	// without -server.
	ctx2, cancel2 := context.WithCancel(context.Background())
	var out lineWriter
	out.first = make(chan string, 1)
	go func() { <-out.first; cancel2() }()
	if err := run(ctx2, &out, []string{"-home", home}, env); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if out.line != "echo listening on "+srv.URL() {
		t.Fatalf("second run printed %q", out.line)
	}
}

func env(k string) string {
	if k == "HUSH_PASSPHRASE" {
		return "bot passphrase"
	}
	return ""
}

// lineWriter keeps the first line written and reports it on first.
type lineWriter struct {
	line  string
	first chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	if w.line == "" {
		w.line = strings.TrimSuffix(string(p), "\n")
		w.first <- w.line
	}
	return len(p), nil
}

func TestEchobotNeedsAPassphrase(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), &out, []string{"-home", t.TempDir()}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "HUSH_PASSPHRASE") {
		t.Fatalf("err %v", err)
	}
}
