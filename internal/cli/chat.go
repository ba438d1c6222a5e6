package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hush-chat/hush/internal/client"
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
		RunE: pf.with(func(c *cobra.Command, cl *client.Client, args []string) error {
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
			} else if _, err := cl.Contact(ctx, peer); err != nil && !errors.Is(err, client.ErrIdentityChanged) {
				return explainSend(err, peer)
			}
			b := newChatBackend(ctx, cl, peer)
			return tui.Run(ctx, b, c.InOrStdin(), c.OutOrStdout())
		}),
	}
}

// chatBackend adapts the client library to the chat screen.
type chatBackend struct {
	cl     *client.Client
	peer   string
	events chan tui.Event
}

func newChatBackend(ctx context.Context, cl *client.Client, peer string) *chatBackend {
	b := &chatBackend{cl: cl, peer: peer, events: make(chan tui.Event, 64)}
	// A group has no single identity key; its members are checked one by one.
	if !strings.HasPrefix(peer, "#") {
		if ct, err := cl.Contact(ctx, peer); err == nil && ct.Changed {
			b.events <- tui.Event{Warning: fmt.Sprintf("%s's identity key changed: messages are not sent until you compare safety numbers and run hush verify %s --accept", peer, peer)}
		}
	}
	go func() {
		defer close(b.events)
		err := cl.Listen(ctx, func(e client.Event) {
			switch {
			case e.Message != nil && e.Message.Peer == peer:
				m := toTUI(*e.Message)
				b.events <- tui.Event{Message: &m}
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

func toTUI(m client.Message) tui.Message {
	at := m.SentAt
	if m.Outgoing {
		at = m.ReceivedAt
	}
	return tui.Message{ID: m.ID, From: m.From, Text: m.Text, At: at, Outgoing: m.Outgoing, State: m.State.String()}
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

func (b *chatBackend) Send(ctx context.Context, text string) (tui.Message, error) {
	m, err := b.cl.Send(ctx, b.peer, text)
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
