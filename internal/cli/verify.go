package cli

import (
	"encoding/base64"
	"fmt"

	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"
)

func newVerifyCmd(pf *profileFlags) *cobra.Command {
	var mark, accept, qr bool
	c := &cobra.Command{
		Use:   "verify <user>",
		Short: "Show the safety number you share with a user; mark it verified or accept a changed key",
		Long: `Show the 60-digit safety number you share with a user. Compare it with theirs (in
person, or by scanning the QR code with --qr); when they match, run again with
--mark-verified. If the user's identity key changed, hush sends nothing to them until you
compare the new number and accept it with --accept.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			user := args[0]
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
			if ct.Changed && !accept {
				fmt.Fprintf(out, "WARNING: %s's identity key changed. Messages are not sent until you accept the new key.\n", user)
				fmt.Fprintf(out, "Compare the new safety number with %s, then run: hush verify %s --accept\n", user, user)
			}
			if accept {
				if err := cl.AcceptIdentity(ctx, user); err != nil {
					return err
				}
				fmt.Fprintf(out, "accepted %s's new identity key\n", user)
			}
			sn, err := cl.SafetyNumber(ctx, user)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "safety number with %s:\n%s\n", user, sn)
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
	c.Flags().BoolVar(&accept, "accept", false, "accept the user's new identity key after a change")
	c.Flags().BoolVar(&qr, "qr", false, "also show the safety number as a QR code")
	return c
}
