package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// fakeBackend is a Backend whose behaviour each test sets up.
type fakeBackend struct {
	self, peer string
	history    []Message
	historyErr error
	safety     string
	events     chan Event
	sent       chan string // every Send call's text, in order
	// gate, when set, holds each Send until the test answers it.
	gate chan sendResult

	mu sync.Mutex
	n  int
}

type sendResult struct {
	state string
	err   error
}

func newFake() *fakeBackend {
	return &fakeBackend{
		self: "alice", peer: "bob",
		safety: "12345 67890 12345 67890 12345 67890",
		events: make(chan Event, 16),
		sent:   make(chan string, 16),
	}
}

func (f *fakeBackend) Self() string         { return f.self }
func (f *fakeBackend) Peer() string         { return f.peer }
func (f *fakeBackend) Events() <-chan Event { return f.events }

func (f *fakeBackend) History(ctx context.Context, limit int) ([]Message, error) {
	return f.history, f.historyErr
}

func (f *fakeBackend) SafetyNumber(ctx context.Context) (string, error) {
	return f.safety, nil
}

func (f *fakeBackend) Send(ctx context.Context, text string) (Message, error) {
	f.sent <- text
	f.mu.Lock()
	f.n++
	id := fmt.Sprintf("out-%d", f.n)
	f.mu.Unlock()
	res := sendResult{state: StateSent}
	if f.gate != nil {
		select {
		case res = <-f.gate:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
	msg := Message{ID: id, From: f.self, Text: text, At: time.Now(), Outgoing: true, State: res.state}
	return msg, res.err
}

// verifyingBackend adds the optional Verifier.
type verifyingBackend struct {
	*fakeBackend
	verified bool
}

func (v verifyingBackend) Verified(ctx context.Context) (bool, error) { return v.verified, nil }

var errRefused = errors.New("identity key changed")

// driver runs a model the way bubbletea does: commands in goroutines,
// their messages fed back to Update one at a time, on the test goroutine.
type driver struct {
	t    *testing.T
	m    tea.Model
	msgs chan tea.Msg
	done chan struct{}
	quit bool
}

func start(t *testing.T, b Backend) *driver {
	t.Helper()
	m := newModel(context.Background(), b)
	m.now = func() time.Time { return time.Date(2026, 5, 4, 18, 0, 0, 0, time.Local) }
	d := &driver{t: t, m: m, msgs: make(chan tea.Msg, 64), done: make(chan struct{})}
	t.Cleanup(func() { close(d.done) })
	d.exec(d.m.Init())
	d.update(tea.WindowSizeMsg{Width: 80, Height: 24})
	return d
}

func (d *driver) exec(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		if msg := cmd(); msg != nil {
			select {
			case d.msgs <- msg:
			case <-d.done:
			}
		}
	}()
}

func (d *driver) update(msg tea.Msg) {
	switch msg := msg.(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			d.exec(c)
		}
		return
	case tea.QuitMsg:
		d.quit = true
		return
	}
	var cmd tea.Cmd
	d.m, cmd = d.m.Update(msg)
	d.exec(cmd)
}

// waitFor processes messages until cond holds. The deadline only stops a
// broken test from hanging; nothing here measures time.
func (d *driver) waitFor(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case msg := <-d.msgs:
			d.update(msg)
		case <-deadline:
			d.t.Fatalf("timed out waiting for %s; screen:\n%s", what, d.screen())
		}
	}
}

func (d *driver) waitScreen(want string) {
	d.t.Helper()
	d.waitFor(fmt.Sprintf("%q on screen", want), func() bool {
		return strings.Contains(d.screen(), want)
	})
}

// screen is the view as the user reads it, styles removed.
func (d *driver) screen() string { return ansi.Strip(d.m.View().Content) }

func (d *driver) model() model { return d.m.(model) }

func (d *driver) typeText(s string) {
	for _, r := range s {
		d.update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

func (d *driver) press(code rune, mod tea.KeyMod) {
	d.update(tea.KeyPressMsg{Code: code, Mod: mod})
}

func (d *driver) enter() { d.press(tea.KeyEnter, 0) }

// nextSent waits for the backend's next Send call.
func nextSent(t *testing.T, f *fakeBackend) string {
	t.Helper()
	select {
	case s := <-f.sent:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("Backend.Send was not called")
		return ""
	}
}

// noSend checks that nothing reached Backend.Send.
func noSend(t *testing.T, f *fakeBackend) {
	t.Helper()
	select {
	case s := <-f.sent:
		t.Fatalf("Backend.Send(%q) was called", s)
	default:
	}
}
