package cli

import (
	"bufio"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
)

func newOutboxCmd(pf *profileFlags) *cobra.Command {
	var retry bool
	c := &cobra.Command{
		Use:   "outbox",
		Short: "List the messages waiting to be sent, and why",
		Long: `List the messages that are stored and queued but not yet accepted by the server,
with the reason. hush retries them by itself on every send, sync and listen; --retry
tries them now.`,
		Args: cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			if retry {
				reportSends(c, cl)
			}
			ms, err := cl.Pending(c.Context())
			if err != nil {
				return err
			}
			out := bufio.NewWriter(c.OutOrStdout())
			for i := range ms {
				m := &ms[i]
				what := preview(m.Text)
				if m.Data != nil {
					what = dataMarker(m)
				}
				fmt.Fprintf(out, "%s %s to %s: %s — %s\n", shortID(m.ID), m.SentAt.Local().Format("2006-01-02 15:04:05"),
					m.Peer, what, m.Error)
			}
			if len(ms) == 0 {
				fmt.Fprintln(out, "nothing waiting")
			}
			return out.Flush()
		}),
	}
	c.Flags().BoolVar(&retry, "retry", false, "try to send what waits now")
	return c
}

// reportSends retries what the outbox holds and says on stderr what was
// refused for good and what still waits.
func reportSends(c *cobra.Command, cl *hush.Client) {
	rep, err := cl.RetrySends(c.Context())
	w := c.ErrOrStderr()
	if err != nil {
		fmt.Fprintln(w, "hush: outbox:", explain(err))
		return
	}
	for _, m := range rep.Failed {
		fmt.Fprintf(w, "hush: message %s to %s failed: %s\n", shortID(m.ID), m.Peer, m.Error)
	}
	if n := len(rep.Waiting); n > 0 {
		fmt.Fprintf(w, "hush: %d message(s) still waiting to be sent (%s); hush outbox lists them\n", n, rep.Waiting[0].Error)
	}
}

// stateMark is what follows an outgoing message that is not simply sent.
func stateMark(m *hush.Message) string {
	if !m.Outgoing {
		var mark string
		if m.Missing > 0 {
			mark += fmt.Sprintf("  [%d earlier message(s) from %s had not arrived]", m.Missing, m.From)
		}
		if m.Late {
			mark += "  [arrived late]"
		}
		return mark
	}
	switch m.State {
	case hush.StateSending:
		return "  [waiting to be sent: " + m.Error + "]"
	case hush.StateFailed:
		return "  [FAILED: " + m.Error + "]"
	}
	if m.Error != "" {
		return "  [" + m.Error + "]"
	}
	return ""
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func preview(text string) string {
	r := []rune(text)
	if len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return text
}
