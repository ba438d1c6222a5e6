package tui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
)

// historyLimit is how many past messages the screen loads when it opens.
const historyLimit = 500

// Rows taken by everything but the history: header, rule, rule, input.
const chromeRows = 4

// verification is what the header knows about the peer's safety number.
type verification int

const (
	verifyUnknown verification = iota // the backend cannot tell
	verifyNo
	verifyYes
)

// model is the chat screen's state. It is a value: Update returns the
// next model, and everything slow runs in commands.
type model struct {
	ctx    context.Context
	b      Backend
	events <-chan Event
	self   string
	peer   string
	now    func() time.Time

	conv     conversation
	verified verification
	loaded   bool // history has arrived (or failed)

	width, height int
	vp            viewport.Model
	input         lineInput
}

// New returns the chat screen for b as a bubbletea model, for tests and
// embedding; Run is the way to show it on a terminal. Its commands use
// context.Background, so the wait for b's next event ends only when b
// closes Events.
func New(b Backend) tea.Model {
	return newModel(context.Background(), b)
}

func newModel(ctx context.Context, b Backend) model {
	vp := viewport.New()
	// The viewport's pager keys are letters the user types; handleKey
	// scrolls it with paging and arrow keys instead.
	vp.KeyMap = viewport.KeyMap{}
	// A line the layout could not fit (a very narrow terminal) wraps
	// rather than being cut off.
	vp.SoftWrap = true
	m := model{
		ctx:    ctx,
		b:      b,
		events: b.Events(),
		self:   clean(b.Self(), false),
		peer:   clean(b.Peer(), false),
		now:    time.Now,
		vp:     vp,
	}
	m.resize(80, 24)
	return m
}

// Init loads the history, starts listening for events and asks whether the
// peer is verified.
func (m model) Init() tea.Cmd {
	return tea.Batch(
		loadHistory(m.ctx, m.b),
		waitEvent(m.ctx, m.events),
		checkVerified(m.ctx, m.b),
	)
}

// Update applies one message to the screen.
func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return m, nil
	case tea.KeyPressMsg:
		return m.handleKey(msg)
	case historyMsg:
		return m.handleHistory(msg), nil
	case eventMsg:
		return m.handleEvent(msg.ev)
	case eventsClosedMsg:
		m.conv.addNotice(noticeWarning, "live updates stopped: new messages appear when you reopen the chat", m.now())
		m.refresh(false)
		return m, nil
	case sendDoneMsg:
		return m.handleSendDone(msg), nil
	case safetyMsg:
		return m.handleSafety(msg), nil
	case verifiedMsg:
		m.verified = msg.v
		return m, nil
	case tea.PasteMsg:
		m.input.Insert(msg.Content)
	}
	return m, nil
}

// resize lays the screen out for a terminal of w×h cells.
func (m *model) resize(w, h int) {
	// Whether the newest line is in view is judged at the old size.
	follow := m.vp.AtBottom()
	m.width, m.height = max(w, 1), max(h, chromeRows+1)
	m.vp.SetWidth(m.width)
	m.vp.SetHeight(m.height - chromeRows)
	m.refresh(follow)
}

// refresh redraws the history into the viewport, following the newest
// line when the user was already at the bottom or when follow is set.
func (m *model) refresh(follow bool) {
	atBottom := m.vp.AtBottom()
	m.vp.SetContent(m.renderHistory())
	if atBottom || follow {
		m.vp.GotoBottom()
	}
}
