package tui

import (
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// The input line's prompt, and its placeholder while empty.
const (
	prompt      = "> "
	placeholder = "type a message · /safety · /help · /quit"
)

// Delivery marks for outgoing messages.
const (
	markSending = "…"
	markSent    = "✓"
	markFailed  = "✗ failed"
)

var (
	styleTitle    = lipgloss.NewStyle().Bold(true)
	styleDim      = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
	styleVerified = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	styleSelf     = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("4"))
	stylePeer     = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("5"))
	styleSent     = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	styleFailed   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("1"))
	styleWarning  = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("3"))
	styleInfo     = lipgloss.NewStyle().Foreground(lipgloss.Color("6"))
	styleError    = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
)

// View draws the whole screen: header, history, input line.
func (m model) View() tea.View {
	rule := styleDim.Render(strings.Repeat("─", m.width))
	line, x := m.input.View(prompt, placeholder, m.width)
	screen := strings.Join([]string{m.header(), rule, m.vp.View(), rule, line}, "\n")
	v := tea.NewView(screen)
	v.AltScreen = true
	v.WindowTitle = "hush · " + m.peer
	v.Cursor = tea.NewCursor(x, m.height-1)
	return v
}

// header names both users and says what is known of the peer's safety
// number, right-aligned when it fits.
func (m model) header() string {
	left := styleTitle.Render("hush") + "  " + m.self + " ↔ " + m.peer
	var right string
	switch m.verified {
	case verifyYes:
		right = styleVerified.Render("✓ safety number verified")
	case verifyNo:
		right = styleWarning.Render("not verified") + styleDim.Render(" · /safety")
	default:
		right = styleDim.Render("/safety to compare safety numbers")
	}
	gap := m.width - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 2 {
		return ansi.Truncate(left, m.width, "…")
	}
	return left + strings.Repeat(" ", gap) + right
}

// renderHistory draws every item, wrapped to the screen width.
func (m model) renderHistory() string {
	if len(m.conv.items) == 0 {
		if !m.loaded {
			return styleDim.Render("loading history…")
		}
		return styleDim.Render(lipgloss.Wrap("No messages with "+m.peer+
			" yet. Messages are end-to-end encrypted.", m.width, " "))
	}
	lines := make([]string, 0, len(m.conv.items))
	now := m.now()
	for _, it := range m.conv.items {
		if it.notice != 0 {
			lines = append(lines, m.renderNotice(it))
		} else {
			lines = append(lines, m.renderMessage(it.msg, now))
		}
	}
	return strings.Join(lines, "\n")
}

// renderMessage draws "15:04 bob: text ✓", continuation lines indented
// under the text.
func (m model) renderMessage(msg Message, now time.Time) string {
	sender, style := clean(msg.From, false), stylePeer
	if msg.Outgoing {
		style = styleSelf
		if sender == "" {
			sender = m.self
		}
	} else if sender == "" {
		sender = m.peer
	}
	ts := formatTime(msg.At, now)
	prefixWidth := lipgloss.Width(ts + " " + sender + ": ")
	mark := stateMark(msg)
	width := max(m.width-prefixWidth-lipgloss.Width(mark)-1, 8)
	body := strings.Split(lipgloss.Wrap(clean(msg.Text, true), width, " "), "\n")
	indent := strings.Repeat(" ", prefixWidth)
	for i := 1; i < len(body); i++ {
		body[i] = indent + body[i]
	}
	if mark != "" {
		body[len(body)-1] += " " + mark
	}
	return styleDim.Render(ts) + " " + style.Render(sender) + ": " + strings.Join(body, "\n")
}

// stateMark is the delivery mark after an outgoing message.
func stateMark(msg Message) string {
	if !msg.Outgoing {
		return ""
	}
	switch msg.State {
	case StateSending:
		return styleDim.Render(markSending)
	case StateSent:
		return styleSent.Render(markSent)
	case StateFailed:
		return styleFailed.Render(markFailed)
	}
	return ""
}

// renderNotice draws a warning, an error or information in its own style.
func (m model) renderNotice(it item) string {
	prefix, style := "· ", styleInfo
	switch it.notice {
	case noticeWarning:
		prefix, style = "⚠ ", styleWarning
	case noticeError:
		prefix, style = "✗ ", styleError
	}
	width := max(m.width-2, 8)
	lines := strings.Split(lipgloss.Wrap(clean(it.text, true), width, " "), "\n")
	for i := range lines {
		lines[i] = style.Render(lines[i])
	}
	return style.Render(prefix) + strings.Join(lines, "\n  ")
}

// formatTime shows the clock time for today's messages and the date too
// for older ones.
func formatTime(t, now time.Time) string {
	if t.IsZero() {
		return "--:--"
	}
	t, now = t.Local(), now.Local()
	if y, mo, d := t.Date(); y == now.Year() && mo == now.Month() && d == now.Day() {
		return t.Format("15:04")
	}
	if t.Year() == now.Year() {
		return t.Format("Jan 2 15:04")
	}
	return t.Format("2006-01-02 15:04")
}
