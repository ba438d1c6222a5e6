package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/tui"
)

func newChatCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "chat <user>",
		Short: "Open a terminal chat with a user",
		Args:  cobra.ExactArgs(1),
		PreRunE: func(c *cobra.Command, _ []string) error {
			if f, ok := c.InOrStdin().(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
				return errors.New("hush chat needs a terminal; use hush send and hush listen in scripts")
			}
			return nil
		},
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			peer := args[0]
			// A second receiver would take messages away from the first:
			// refuse before the screen opens rather than chat half-deaf.
			if err := cl.CheckReceive(); err != nil {
				return explain(err)
			}
			ctx, stop := withSignals(c.Context())
			defer stop()
			if strings.HasPrefix(peer, "#") {
				if _, err := cl.GroupInfo(ctx, peer); err != nil {
					return err
				}
			} else if _, err := cl.Contact(ctx, peer); err != nil && !errors.Is(err, hush.ErrIdentityChanged) {
				return explainSend(err, peer)
			}
			b := newChatBackend(ctx, cl, peer)
			return tui.Run(ctx, b, c.InOrStdin(), c.OutOrStdout())
		}),
	}
}

// chatBackend adapts the client library to the chat screen.
type chatBackend struct {
	cl     *hush.Client
	peer   string
	events chan tui.Event
}

func newChatBackend(ctx context.Context, cl *hush.Client, peer string) *chatBackend {
	b := &chatBackend{cl: cl, peer: peer, events: make(chan tui.Event, 64)}
	// A group has no single identity key; its members are checked one by one.
	if !strings.HasPrefix(peer, "#") {
		if ct, err := cl.Contact(ctx, peer); err == nil && ct.Changed {
			b.events <- tui.Event{Warning: fmt.Sprintf("%s's identity key changed: messages are not sent until you compare safety numbers and run hush verify %s --accept", peer, peer)}
		}
	}
	// What arrived for this conversation while no screen showed it is in
	// the history the screen loads; what waits for other conversations
	// is announced.
	if ms, err := cl.Unshown(ctx); err == nil {
		var mine []hush.Message
		others := map[string]int{}
		for _, m := range ms {
			if m.Peer == peer {
				mine = append(mine, m)
			} else {
				others[m.Peer]++
			}
		}
		cl.MarkShown(ctx, mine...)
		for p, n := range others {
			b.events <- tui.Event{Warning: unreadNotice(p, n)}
		}
	}
	unread := map[string]int{}
	go func() {
		defer close(b.events)
		shows := func(p string) bool { return p == peer }
		err := cl.ListenShowing(ctx, shows, func(e hush.Event) {
			switch {
			case e.Message != nil && e.Message.Peer == peer:
				m := toTUI(*e.Message)
				b.events <- tui.Event{Message: &m}
			case e.Message != nil:
				// Another conversation: it stays unshown for hush sync or a
				// chat with that peer.
				unread[e.Message.Peer]++
				b.events <- tui.Event{Warning: unreadNotice(e.Message.Peer, unread[e.Message.Peer])}
			case e.Sent != nil && e.Err == nil && e.Sent.Peer == peer:
				m := toTUI(*e.Sent)
				b.events <- tui.Event{Message: &m}
			case e.Held != nil:
				b.events <- tui.Event{Warning: heldNotice(e.Held)}
			case e.Devices != nil:
				b.events <- tui.Event{Warning: e.Devices.String()}
			case e.Group != nil:
				b.events <- tui.Event{Warning: e.Group.String()}
			case e.Err != nil:
				b.events <- tui.Event{Warning: e.Err.Error()}
			}
		})
		if err != nil {
			b.events <- tui.Event{Warning: "receiving stopped: " + explain(err).Error()}
		}
	}()
	return b
}

func toTUI(m hush.Message) tui.Message {
	at := m.SentAt
	if m.Outgoing {
		at = m.ReceivedAt
	}
	text := m.Text
	if m.Attachment != nil && !m.Attachment.Memo {
		// As hush sync prints it: the file waits until the user fetches it.
		text = fmt.Sprintf("[file %s, %d bytes: hush get %s]", m.Attachment.Name, m.Attachment.Size, m.ID)
	}
	if m.Data != nil {
		text = dataMarker(&m) // an application's bytes are not for the screen
	}
	return tui.Message{ID: m.ID, From: m.From, Text: text, At: at, Outgoing: m.Outgoing, State: m.State.String()}
}

func (b *chatBackend) Self() string { return b.cl.Username() }
func (b *chatBackend) Peer() string { return b.peer }

func (b *chatBackend) History(ctx context.Context, limit int) ([]tui.Message, error) {
	ms, err := b.cl.History(ctx, b.peer, limit)
	out := make([]tui.Message, 0, len(ms))
	for _, m := range ms {
		out = append(out, toTUI(m))
	}
	return out, err
}

// unreadNotice is the line a chat screen shows for messages of another
// conversation.
func unreadNotice(peer string, n int) string {
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("%d unread message%s from %s (hush chat %s, or hush sync)", n, s, peer, peer)
}

func (b *chatBackend) Send(ctx context.Context, text string) (tui.Message, error) {
	m, err := sendText(ctx, b.cl, b.peer, text)
	var qe *hush.QueuedError
	if errors.As(err, &qe) && m != nil {
		// Kept and retried: the line shows "sending" until it goes out.
		b.events <- tui.Event{Warning: "not sent yet (" + qe.Cause.Error() + "): it goes out by itself when the server takes it"}
		return toTUI(*m), nil
	}
	if err != nil {
		return tui.Message{From: b.cl.Username(), Text: text, Outgoing: true, State: "failed"}, explainSend(err, b.peer)
	}
	return toTUI(*m), nil
}

func (b *chatBackend) Events() <-chan tui.Event { return b.events }

func (b *chatBackend) SafetyNumber(ctx context.Context) (string, error) {
	if strings.HasPrefix(b.peer, "#") {
		return "", errors.New("a group has no single safety number: verify its members with hush verify <user>")
	}
	sn, err := b.cl.SafetyNumber(ctx, b.peer)
	if err != nil {
		return "", err
	}
	return sn.String(), nil
}

// Verified reports whether the user marked the peer's safety number as
// verified (the chat header shows it).
func (b *chatBackend) Verified(ctx context.Context) (bool, error) {
	if strings.HasPrefix(b.peer, "#") {
		return false, nil
	}
	cs, err := b.cl.Contacts(ctx)
	if err != nil {
		return false, err
	}
	for _, c := range cs {
		if c.Username == b.peer {
			return c.Verified && !c.Changed, nil
		}
	}
	return false, nil
}
