//go:build linux || darwin || freebsd

package tui

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/creack/pty"
)

// screenLog collects what the program writes to the terminal.
type screenLog struct {
	mu      sync.Mutex
	buf     strings.Builder
	changed chan struct{} // receives after each write
}

func (s *screenLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.buf.Write(p)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

// text is everything written so far with escape sequences and whitespace
// removed: the renderer moves the cursor over cells that did not change,
// so spaces are not reliably written.
func (s *screenLog) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(strings.Fields(ansi.Strip(s.buf.String())), "")
}

// waitFor waits until want is written at or after offset from (in
// text's terms) and returns the offset just past it.
func (s *screenLog) waitFor(t *testing.T, want string, from int) int {
	t.Helper()
	want = strings.Join(strings.Fields(want), "")
	deadline := time.After(10 * time.Second)
	for {
		text := s.text()
		if i := strings.Index(text[min(from, len(text)):], want); i >= 0 {
			return from + i + len(want)
		}
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("terminal never showed %q; got:\n%s", want, s.text())
		}
	}
}

// TestRunInPseudoTerminal drives Run through a real pty: the user types a
// line, the backend receives it, a reply arrives and is drawn, /quit ends
// Run with no error.
func TestRunInPseudoTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	out := &screenLog{changed: make(chan struct{}, 1)}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, ptmx) // ends with EIO once the tty side closes
	}()

	f := newFake()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, f, tty, tty, tea.WithEnvironment([]string{"TERM=xterm-256color"}))
	}()

	at := out.waitFor(t, "alice ↔ bob", 0)
	if _, err := ptmx.WriteString("hello over the pty\r"); err != nil {
		t.Fatal(err)
	}
	if got := nextSent(t, f); got != "hello over the pty" {
		t.Fatalf("Backend.Send got %q", got)
	}
	// The renderer redraws only cells that change, so the sent mark may
	// come in a later write than the line it ends.
	at = out.waitFor(t, "alice: hello over the pty", at)
	at = out.waitFor(t, markSent, at)

	f.events <- Event{Message: &Message{ID: "r1", From: "bob", Text: "pong from bob", At: time.Now()}}
	out.waitFor(t, "bob: pong from bob", at)

	if _, err := ptmx.WriteString("/quit\r"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after /quit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after /quit")
	}
	tty.Close()
	<-copied
}

// TestRunEndsWithContext checks that cancelling Run's context stops the
// chat and says why.
func TestRunEndsWithContext(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	_ = pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80})
	out := &screenLog{changed: make(chan struct{}, 1)}
	go func() { _, _ = io.Copy(out, ptmx) }()

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, newFake(), tty, tty, tea.WithEnvironment([]string{"TERM=xterm-256color"}))
	}()
	out.waitFor(t, "alice ↔ bob", 0)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
