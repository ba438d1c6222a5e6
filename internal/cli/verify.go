package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
)

func newVerifyCmd(pf *profileFlags) *cobra.Command {
	var mark, accept, reject, qr bool
	c := &cobra.Command{
		Use:   "verify <user>",
		Short: "Show the safety number you share with a user; mark it verified, or accept or refuse a changed key",
		Long: `Show the 60-digit safety number you share with a user. Compare it with theirs (in
person, or by scanning the QR code with --qr); when they match, run again with
--mark-verified.

If the user's identity key changed, hush sends nothing to them until you decide. Compare
the NEW safety number with them over a channel the server does not control; if it
matches, adopt the new key with --accept. If it does not (or they did not set hush up
again), keep the previous key with --reject: the warning then clears only once the
server serves the previous key again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			user := args[0]
			if accept && reject {
				return usageError{errors.New("--accept and --reject exclude each other")}
			}
			cl, err := pf.open(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx := c.Context()
			ct, err := cl.Contact(ctx, user)
			if err != nil {
				return explainSend(err, user)
			}
			out := c.OutOrStdout()
			switch {
			case accept:
				delivered := 0
				err := cl.AcceptIdentity(ctx, user, func(e hush.Event) {
					switch {
					case e.Message != nil:
						delivered++
					case e.Err != nil:
						fmt.Fprintln(c.ErrOrStderr(), "hush:", e.Err)
					}
				})
				fmt.Fprintf(out, "accepted %s's new identity key\n", user)
				if delivered > 0 {
					fmt.Fprintf(out, "delivered %s from %s (see hush history %s)\n", plural(delivered, "held message"), user, user)
				}
				if err != nil {
					return explain(err)
				}
			case reject:
				cleared, err := cl.RejectIdentity(ctx, user)
				if err != nil {
					return explain(err)
				}
				if cleared {
					fmt.Fprintf(out, "kept %s's previous key; the server serves it again, so the warning is cleared\n", user)
				} else {
					fmt.Fprintf(out, "kept %s's previous key; the server still serves another key, so nothing is sent to %s until it serves the previous one again\n", user, user)
				}
			}
			if accept || reject {
				if ct, err = cl.Contact(ctx, user); err != nil {
					return explainSend(err, user)
				}
			}
			var sn *hush.SafetyNumber
			if ct.Changed {
				if sn, err = showKeyChange(ctx, out, cl, ct); err != nil {
					return err
				}
			} else {
				if sn, err = cl.SafetyNumber(ctx, user); err != nil {
					return err
				}
				fmt.Fprintf(out, "safety number with %s:\n%s\n", user, sn)
			}
			if qr {
				qrterminal.GenerateHalfBlock(base64.StdEncoding.EncodeToString(sn.QRPayload()), qrterminal.M, out)
			}
			if mark {
				if err := cl.MarkVerified(ctx, user); err != nil {
					return explainSend(err, user)
				}
				fmt.Fprintf(out, "%s is marked as verified\n", user)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&mark, "mark-verified", false, "record that you compared the safety number and it matched")
	c.Flags().BoolVar(&accept, "accept", false, "adopt the user's new identity key after a change")
	c.Flags().BoolVar(&reject, "reject", false, "refuse the user's new identity key and keep the previous one")
	c.Flags().BoolVar(&qr, "qr", false, "also show the safety number as a QR code (the new one after a change)")
	return c
}

// showKeyChange explains an undecided key change: the number to compare
// is the new key's; the pinned key's number is shown only as no longer
// valid. It returns the new number.
func showKeyChange(ctx context.Context, out io.Writer, cl *hush.Client, ct *hush.Contact) (*hush.SafetyNumber, error) {
	user := ct.Username
	next, err := cl.PendingSafetyNumber(ctx, user)
	if err != nil {
		return nil, err
	}
	prev, err := cl.SafetyNumber(ctx, user)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "WARNING: %s's identity key changed. Nothing is sent to %s until you decide.\n", user, user)
	fmt.Fprintf(out, "A key change %s did not announce to you usually means the server swapped the key to read your messages.\n", user)
	fmt.Fprintf(out, "Ask %s, over a channel the server does not control, to read you their number (hush verify %s).\n", user, cl.Username())
	fmt.Fprintf(out, "new safety number (compare this one):\n%s\n", next)
	fmt.Fprintf(out, "previous safety number, no longer valid:\n%s\n", prev)
	if ct.ServedPinnedAgain {
		fmt.Fprintln(out, "NOTE: the server now serves the previous key again; a server that switches keys back and forth is suspicious.")
	}
	if ct.Held > 0 {
		fmt.Fprintf(out, "%s from %s %s held until you accept the new key.\n", plural(ct.Held, "message"), user, isAre(ct.Held))
	}
	if ct.KeptPinned {
		fmt.Fprintf(out, "You kept the previous key: the warning clears when the server serves it again.\n")
	}
	fmt.Fprintf(out, "If it matches the new number: hush verify %s --accept\n", user)
	fmt.Fprintf(out, "If it does not: hush verify %s --reject (keeps the previous key)\n", user)
	return next, nil
}

// plural returns "1 message", "2 messages".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// heldNotice is the line that tells the user messages are held.
func heldNotice(h *hush.Held) string {
	them := "them"
	if h.Count == 1 {
		them = "it"
	}
	return fmt.Sprintf("%s from %s %s held: %s's identity key changed; compare safety numbers (hush verify %s) and accept with hush verify %s --accept to read %s",
		plural(h.Count, "message"), h.From, isAre(h.Count), h.From, h.From, h.From, them)
}
