package tui

import (
	"context"

	tea "charm.land/bubbletea/v2"
)

// Messages the commands below report back to Update.
type (
	historyMsg struct {
		msgs []Message
		err  error
	}
	eventMsg        struct{ ev Event }
	eventsClosedMsg struct{}
	sendDoneMsg     struct {
		key string // the pending item this send belongs to
		msg Message
		err error
	}
	safetyMsg struct {
		number string
		err    error
	}
	verifiedMsg struct{ v verification }
)

func loadHistory(ctx context.Context, b Backend) tea.Cmd {
	return func() tea.Msg {
		msgs, err := b.History(ctx, historyLimit)
		return historyMsg{msgs: msgs, err: err}
	}
}

// waitEvent reports the backend's next event. It gives up silently when
// ctx ends, so a closed screen leaves no goroutine behind.
func waitEvent(ctx context.Context, events <-chan Event) tea.Cmd {
	return func() tea.Msg {
		select {
		case ev, ok := <-events:
			if !ok {
				return eventsClosedMsg{}
			}
			return eventMsg{ev: ev}
		case <-ctx.Done():
			return nil
		}
	}
}

// sendText runs Backend.Send off the screen's goroutine, so typing goes on
// while a message is on its way.
func sendText(ctx context.Context, b Backend, key, text string) tea.Cmd {
	return func() tea.Msg {
		msg, err := b.Send(ctx, text)
		return sendDoneMsg{key: key, msg: msg, err: err}
	}
}

func safetyNumber(ctx context.Context, b Backend) tea.Cmd {
	return func() tea.Msg {
		n, err := b.SafetyNumber(ctx)
		return safetyMsg{number: n, err: err}
	}
}

// checkVerified asks a Backend that implements Verifier; others leave the
// header's hint at "unknown".
func checkVerified(ctx context.Context, b Backend) tea.Cmd {
	v, ok := b.(Verifier)
	if !ok {
		return nil
	}
	return func() tea.Msg {
		yes, err := v.Verified(ctx)
		switch {
		case err != nil:
			return verifiedMsg{v: verifyUnknown}
		case yes:
			return verifiedMsg{v: verifyYes}
		}
		return verifiedMsg{v: verifyNo}
	}
}
