package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
)

const helpText = `commands:
  /safety   show the safety number to compare with %s
  /quit     leave (also ctrl+c or esc)
  /help     this text
  //text    send a message that starts with "/"
pgup/pgdn and ↑/↓ scroll the history`

// handleKey routes a key press: quitting, sending, scrolling, or typing.
func (m model) handleKey(k tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch k.String() {
	case "ctrl+c", "esc":
		return m, tea.Quit
	case "enter":
		return m.submit()
	case "pgup":
		m.vp.PageUp()
		return m, nil
	case "pgdown":
		m.vp.PageDown()
		return m, nil
	case "up":
		m.vp.ScrollUp(1)
		return m, nil
	case "down":
		m.vp.ScrollDown(1)
		return m, nil
	}
	m.input.Key(k)
	return m, nil
}

// submit acts on the input line: a command, or a message to send.
func (m model) submit() (tea.Model, tea.Cmd) {
	line := m.input.Value()
	if strings.TrimSpace(line) == "" {
		return m, nil
	}
	m.input.Reset()
	if strings.HasPrefix(line, "/") && !strings.HasPrefix(line, "//") {
		return m.command(strings.TrimSpace(line))
	}
	text := line
	if strings.HasPrefix(line, "//") {
		text = line[1:]
	}
	key := m.conv.addPending(m.self, text, m.now())
	m.refresh(true)
	return m, sendText(m.ctx, m.b, key, text)
}

// command runs one of the slash commands.
func (m model) command(line string) (tea.Model, tea.Cmd) {
	name, _, _ := strings.Cut(line, " ")
	switch name {
	case "/quit", "/exit":
		return m, tea.Quit
	case "/safety":
		return m, safetyNumber(m.ctx, m.b)
	case "/help":
		m.conv.addNotice(noticeInfo, fmt.Sprintf(helpText, m.peer), m.now())
	default:
		m.conv.addNotice(noticeError, "unknown command "+clean(name, false)+" (try /help)", m.now())
	}
	m.refresh(true)
	return m, nil
}

func (m model) handleHistory(h historyMsg) model {
	m.loaded = true
	if h.err != nil {
		m.conv.addNotice(noticeError, "could not load history: "+h.err.Error(), m.now())
	} else {
		m.conv.mergeHistory(h.msgs)
	}
	m.refresh(true)
	return m
}

// handleEvent shows a live message or warning and waits for the next one.
func (m model) handleEvent(ev Event) (tea.Model, tea.Cmd) {
	cmds := []tea.Cmd{waitEvent(m.ctx, m.events)}
	if ev.Message != nil {
		m.conv.upsert(*ev.Message)
	}
	if ev.Warning != "" {
		m.conv.addNotice(noticeWarning, ev.Warning, m.now())
		// A warning is often about the peer's key: the verified mark in
		// the header may no longer hold.
		cmds = append(cmds, checkVerified(m.ctx, m.b))
	}
	m.refresh(false)
	return m, tea.Batch(cmds...)
}

func (m model) handleSendDone(d sendDoneMsg) model {
	m.conv.finishSend(d.key, d.msg, d.err)
	if d.err != nil {
		m.conv.addNotice(noticeError, "not sent: "+d.err.Error(), m.now())
	}
	m.refresh(false)
	return m
}

func (m model) handleSafety(s safetyMsg) model {
	if s.err != nil {
		m.conv.addNotice(noticeError, "no safety number: "+s.err.Error(), m.now())
	} else {
		m.conv.addNotice(noticeInfo, "safety number with "+m.peer+
			" (compare it with the one "+m.peer+" sees; then run hush verify "+
			m.peer+" --mark-verified):\n"+s.number, m.now())
	}
	m.refresh(true)
	return m
}
