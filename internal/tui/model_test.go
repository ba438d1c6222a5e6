package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

var day = time.Date(2026, 5, 4, 0, 0, 0, 0, time.Local)

func TestHistoryShownInOrderWithMarks(t *testing.T) {
	f := newFake()
	f.history = []Message{
		{ID: "h1", From: "bob", Text: "are you there?", At: day.Add(9*time.Hour + 5*time.Minute), State: StateReceived},
		{ID: "h2", From: "alice", Text: "yes, here", At: day.Add(9*time.Hour + 7*time.Minute), Outgoing: true, State: StateSent},
		{ID: "h3", From: "alice", Text: "did this go?", At: day.Add(9*time.Hour + 8*time.Minute), Outgoing: true, State: StateFailed},
	}
	d := start(t, f)
	d.waitScreen("did this go?")

	s := d.screen()
	for _, want := range []string{
		"alice ↔ bob",
		"09:05 bob: are you there?",
		"09:07 alice: yes, here " + markSent,
		"09:08 alice: did this go? " + markFailed,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "are you there?") > strings.Index(s, "yes, here") {
		t.Errorf("history out of order:\n%s", s)
	}
	if strings.Contains(s, "are you there? "+markSent) {
		t.Errorf("incoming message carries a delivery mark:\n%s", s)
	}
}

func TestEmptyHistoryAndHistoryError(t *testing.T) {
	d := start(t, newFake())
	d.waitScreen("No messages with bob yet")

	f := newFake()
	f.historyErr = errRefused
	d = start(t, f)
	d.waitScreen("could not load history: identity key changed")
}

func TestOlderMessagesShowTheDate(t *testing.T) {
	f := newFake()
	f.history = []Message{{ID: "h1", From: "bob", Text: "last week", At: day.AddDate(0, 0, -7).Add(8 * time.Hour)}}
	d := start(t, f)
	d.waitScreen("Apr 27 08:00 bob: last week")
}

func TestEnterSendsAndShowsStateTransitions(t *testing.T) {
	f := newFake()
	f.gate = make(chan sendResult)
	d := start(t, f)
	d.waitScreen("No messages with bob yet")

	d.typeText("hello bob")
	if !strings.Contains(d.screen(), "> hello bob") {
		t.Fatalf("typed text not in the input line:\n%s", d.screen())
	}
	d.enter()
	if got := nextSent(t, f); got != "hello bob" {
		t.Fatalf("Backend.Send got %q, want %q", got, "hello bob")
	}
	// Send is still running: the message is on screen as sending and the
	// input line is free again.
	s := d.screen()
	if !strings.Contains(s, "alice: hello bob "+markSending) {
		t.Fatalf("pending message not shown as sending:\n%s", s)
	}
	if strings.Contains(s, "> hello bob") {
		t.Fatalf("input line not cleared after enter:\n%s", s)
	}
	d.typeText("still typing")

	f.gate <- sendResult{state: StateSent}
	d.waitScreen("alice: hello bob " + markSent)
	if strings.Contains(d.screen(), markSending) {
		t.Fatalf("sending mark left after Send returned:\n%s", d.screen())
	}
	if !strings.Contains(d.screen(), "> still typing") {
		t.Fatalf("typing while sending was lost:\n%s", d.screen())
	}

	d.update(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	d.typeText("second")
	d.enter()
	nextSent(t, f)
	f.gate <- sendResult{state: StateFailed, err: errRefused}
	d.waitScreen("alice: second " + markFailed)
	d.waitScreen("not sent: identity key changed")
	if n := strings.Count(d.screen(), "hello bob"); n != 1 {
		t.Fatalf("first message shown %d times:\n%s", n, d.screen())
	}
}

func TestSendErrorWithoutMessageMarksFailed(t *testing.T) {
	f := newFake()
	f.gate = make(chan sendResult)
	d := start(t, f)
	d.typeText("anyone?")
	d.enter()
	nextSent(t, f)
	f.gate <- sendResult{err: errRefused}
	d.waitScreen("alice: anyone? " + markFailed)
}

func TestDoubleSlashSendsLiteralSlash(t *testing.T) {
	f := newFake()
	d := start(t, f)
	d.typeText("//shrug")
	d.enter()
	if got := nextSent(t, f); got != "/shrug" {
		t.Fatalf("Backend.Send got %q, want %q", got, "/shrug")
	}
}

func TestEmptyLineSendsNothing(t *testing.T) {
	f := newFake()
	d := start(t, f)
	d.typeText("   ")
	d.enter()
	assertNothingSent(t, d, f)
}

func TestIncomingEventAppearsLive(t *testing.T) {
	f := newFake()
	d := start(t, f)
	d.waitScreen("No messages with bob yet")
	f.events <- Event{Message: &Message{ID: "in-1", From: "bob", Text: "ping from bob",
		At: day.Add(18 * time.Hour), State: StateReceived}}
	d.waitScreen("18:00 bob: ping from bob")

	// The same message again (a redelivery) stays one line.
	f.events <- Event{Message: &Message{ID: "in-1", From: "bob", Text: "ping from bob",
		At: day.Add(18 * time.Hour), State: StateReceived}}
	f.events <- Event{Message: &Message{ID: "in-2", From: "bob", Text: "second ping"}}
	d.waitScreen("second ping")
	if n := strings.Count(d.screen(), "ping from bob"); n != 1 {
		t.Fatalf("redelivered message shown %d times:\n%s", n, d.screen())
	}
}

func TestEventBeforeHistoryIsMergedOnce(t *testing.T) {
	m := newModel(t.Context(), newFake())
	msg := Message{ID: "x1", From: "bob", Text: "early bird", At: day}
	next, _ := m.Update(eventMsg{ev: Event{Message: &msg}})
	next, _ = next.Update(historyMsg{msgs: []Message{
		{ID: "x0", From: "bob", Text: "older one", At: day},
		msg,
	}})
	s := ansi.Strip(next.View().Content)
	if n := strings.Count(s, "early bird"); n != 1 {
		t.Fatalf("message in both history and events shown %d times:\n%s", n, s)
	}
	if strings.Index(s, "older one") > strings.Index(s, "early bird") {
		t.Fatalf("history not placed before live messages:\n%s", s)
	}
}

func TestWarningShownInItsOwnStyle(t *testing.T) {
	f := newFake()
	d := start(t, f)
	d.waitScreen("No messages with bob yet")
	warning := "bob's identity key changed: messages are not sent until you run hush verify bob --accept"
	f.events <- Event{Warning: warning}
	d.waitScreen("⚠ bob's identity key changed")
	d.waitScreen("bob --accept") // wrapped onto the next line at 80 columns

	raw := d.m.View().Content
	if !strings.Contains(raw, styleWarning.Render("⚠ ")) {
		t.Fatalf("warning not drawn in the warning style:\n%q", raw)
	}
}

func TestEventsClosedIsReported(t *testing.T) {
	f := newFake()
	d := start(t, f)
	close(f.events)
	d.waitScreen("live updates stopped")
}

func TestSafetyCommandShowsNumberAndSendsNothing(t *testing.T) {
	f := newFake()
	d := start(t, f)
	d.typeText("/safety")
	d.enter()
	d.waitScreen("12345 67890 12345 67890 12345 67890")
	d.waitScreen("safety number with bob")
	assertNothingSent(t, d, f)
}

func TestHelpAndUnknownCommand(t *testing.T) {
	f := newFake()
	d := start(t, f)
	d.typeText("/help")
	d.enter()
	d.waitScreen("/quit")
	d.typeText("/nope")
	d.enter()
	d.waitScreen("unknown command /nope")
	assertNothingSent(t, d, f)
}

func TestHeaderShowsVerification(t *testing.T) {
	d := start(t, newFake())
	d.waitScreen("/safety to compare safety numbers")

	d = start(t, verifyingBackend{newFake(), true})
	d.waitScreen("✓ safety number verified")

	d = start(t, verifyingBackend{newFake(), false})
	d.waitScreen("not verified · /safety")
}

func TestQuitKeys(t *testing.T) {
	for name, keys := range map[string]func(d *driver){
		"ctrl+c": func(d *driver) { d.press('c', tea.ModCtrl) },
		"esc":    func(d *driver) { d.press(tea.KeyEscape, 0) },
		"/quit":  func(d *driver) { d.typeText("/quit"); d.enter() },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			d := start(t, f)
			keys(d)
			d.waitFor(name+" to quit", func() bool { return d.quit })
			assertNothingSent(t, d, f)
		})
	}
}

func TestResizeRelaysOutAndWraps(t *testing.T) {
	f := newFake()
	long := strings.Repeat("word ", 30)
	f.history = []Message{{ID: "h1", From: "bob", Text: long, At: day}}
	d := start(t, f)
	d.waitScreen("word word")

	for _, size := range []tea.WindowSizeMsg{{Width: 40, Height: 12}, {Width: 100, Height: 30}} {
		d.update(size)
		lines := strings.Split(d.screen(), "\n")
		if len(lines) != size.Height {
			t.Fatalf("%dx%d: screen has %d lines", size.Width, size.Height, len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > size.Width {
				t.Fatalf("%dx%d: line %d is %d cells wide: %q", size.Width, size.Height, i, w, l)
			}
		}
		if !strings.HasPrefix(lines[len(lines)-1], "> ") {
			t.Fatalf("%dx%d: input line not at the bottom: %q", size.Width, size.Height, lines[len(lines)-1])
		}
		if got := strings.Count(d.screen(), "word"); got != 30 {
			t.Fatalf("%dx%d: wrapped text lost words: %d of 30", size.Width, size.Height, got)
		}
	}
}

func TestHistoryFollowsNewestAndScrolls(t *testing.T) {
	f := newFake()
	for i := range 60 {
		f.history = append(f.history, Message{ID: string(rune('a'+i%26)) + string(rune('0'+i/26)),
			From: "bob", Text: "line " + string(rune('A'+i%26)) + string(rune('0'+i/26)), At: day})
	}
	d := start(t, f)
	d.waitScreen("line H2") // the 60th, newest
	if strings.Contains(d.screen(), "line A0") {
		t.Fatalf("oldest line visible: the view did not follow the newest")
	}
	for range 5 {
		d.press(tea.KeyPgUp, 0)
	}
	if !strings.Contains(d.screen(), "line A0") {
		t.Fatalf("pgup did not reach the oldest line:\n%s", d.screen())
	}
	for range 5 {
		d.press(tea.KeyPgDown, 0)
	}
	if !strings.Contains(d.screen(), "line H2") {
		t.Fatalf("pgdown did not return to the newest line:\n%s", d.screen())
	}

	// Narrowing the window re-wraps everything; the newest line stays in
	// view.
	d.update(tea.WindowSizeMsg{Width: 12, Height: 10})
	if !strings.Contains(d.screen(), "H2") {
		t.Fatalf("newest line lost after resize:\n%s", d.screen())
	}

	// Scrolled up, a new message does not yank the view down.
	d.update(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.press(tea.KeyPgUp, 0)
	before := d.screen()
	f.events <- Event{Message: &Message{ID: "new", From: "bob", Text: "fresh news"}}
	d.waitFor("the new message", func() bool { return len(d.model().conv.items) == 61 })
	if d.screen() != before {
		t.Fatalf("view moved while the user read older lines:\n%s", d.screen())
	}
}

// Security regression: text chosen by the peer must not reach the
// terminal as control sequences (window title, screen clearing, cursor
// moves that forge lines, hyperlinks, bidi reordering).
func TestSecurityPeerEscapeSequencesAreInert(t *testing.T) {
	f := newFake()
	f.peer = "bob\x1b[2J"
	d := start(t, f)
	evil := "hi\x1b]0;owned\x07\x1b[2J\x1b[1;1Hbob: forged\r\u009b31m\u202eevil\x08\x7f"
	f.events <- Event{Message: &Message{ID: "e1", From: "bob\x1b[31m", Text: evil}}
	f.events <- Event{Warning: "warn\x1b]52;c;ZXZpbA==\x07"}
	d.waitScreen("⚠ warn")

	raw := d.m.View().Content
	for _, bad := range []string{"\x1b]", "\x07", "\x1b[2J", "\x1b[1;1H", "\r", "\u009b", "\u202e", "\x08", "\x7f"} {
		if strings.Contains(raw, bad) {
			t.Errorf("peer-controlled %q reached the terminal", bad)
		}
	}
	if !strings.Contains(d.screen(), "hi]0;owned[2J[1;1Hbob: forged31mevil") {
		t.Errorf("text around the stripped controls lost:\n%s", d.screen())
	}
}

func assertNothingSent(t *testing.T, d *driver, f *fakeBackend) {
	t.Helper()
	for _, it := range d.model().conv.items {
		if it.notice == 0 && it.msg.Outgoing {
			t.Fatalf("an outgoing message was created: %q", it.msg.Text)
		}
	}
	noSend(t, f)
}
