package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
)

func newRecoveryCmd(pf *profileFlags) *cobra.Command {
	var bf backupFlags
	c := &cobra.Command{
		Use:   "recovery",
		Short: "Let contacts you trust restore your backup if you lose every device",
		Long: `Split a recovery secret among contacts you trust: any --threshold of them can
later let you restore your backup on a new machine, without the backup passphrase.

On a device you have:   hush recovery setup --threshold 2 bob carol dave
On the new machine:     hush recovery start alice --server URL
Each holder runs:       hush recovery approve alice <code>   (after checking with you)
A holder sees:          hush recovery shares`,
	}
	c.PersistentFlags().StringVar(&bf.passphraseFile, "backup-passphrase-file", "", "read the backup passphrase from this file (else $HUSH_BACKUP_PASSPHRASE, else a prompt)")
	c.AddCommand(newRecoverySetupCmd(pf, &bf), newRecoveryStartCmd(pf), newRecoveryApproveCmd(pf), newRecoverySharesCmd(pf))
	return c
}

func newRecoverySetupCmd(pf *profileFlags, bf *backupFlags) *cobra.Command {
	var threshold int
	c := &cobra.Command{
		Use:   "setup --threshold K <holder>…",
		Short: "Hand shares of a new recovery secret to holders (replaces earlier shares)",
		Args:  cobra.MinimumNArgs(2),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			if threshold == 0 {
				return usageError{errors.New("--threshold K is required: how many holders together can restore you")}
			}
			pw, err := bf.passphrase(false)
			if err != nil {
				return err
			}
			s, err := cl.SetupRecovery(c.Context(), pw, threshold, args)
			if err != nil {
				return explain(err)
			}
			fmt.Fprintf(c.OutOrStdout(), "recovery set up: any %d of %s can restore you (set %s); earlier shares no longer work\n",
				s.Threshold, strings.Join(s.Holders, ", "), s.SetID[:8])
			return nil
		}),
	}
	c.Flags().IntVar(&threshold, "threshold", 0, "how many holders must approve a recovery (2 to the number of holders)")
	return c
}

func newRecoveryStartCmd(pf *profileFlags) *cobra.Command {
	var server string
	c := &cobra.Command{
		Use:   "start <username> --server URL",
		Short: "On a new machine: ask your holders to restore you",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if server == "" {
				return usageError{errors.New("--server URL is required (the server that holds your backup)")}
			}
			pw, err := pf.passphrase(c, true)
			if err != nil {
				return err
			}
			ctx, stop := withSignals(c.Context())
			defer stop()
			r, err := hush.StartRecovery(ctx, hush.Options{Home: pf.homeDir(), Passphrase: pw, ServerURL: server}, args[0])
			if errors.Is(err, hush.ErrProfileExists) {
				return errors.New("a profile already exists in this home directory (use --home for another)")
			}
			if err != nil {
				return explain(err)
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "recovery code: %s\n", r.Code())
			qrterminal.GenerateHalfBlock(r.Code(), qrterminal.M, out)
			fmt.Fprintf(out, "Each holder runs:\n  hush recovery approve %s %s\n", args[0], r.Code())
			fmt.Fprintf(out, "Their device shows this fingerprint; tell them to approve only if it is the same:\n  %s\n", r.Fingerprint())
			fmt.Fprintf(out, "waiting for the shares (until %s)…\n", r.ExpiresAt().Format("15:04"))
			cl, err := r.Wait(ctx, func(p hush.RecoveryProgress) {
				if p.Err != nil {
					fmt.Fprintln(c.ErrOrStderr(), "hush:", p.Err)
				} else {
					fmt.Fprintf(out, "share from %s: %d of %d\n", p.Holder, p.Valid, p.Threshold)
				}
			})
			if err != nil {
				return explain(err)
			}
			defer cl.Close()
			fmt.Fprintf(out, "%s, device %d\nfingerprint %s\n", cl.Username(), cl.DeviceID(), cl.Fingerprint())
			return nil
		},
	}
	c.Flags().StringVar(&server, "server", "", "the server that holds the backup")
	return c
}

func newRecoveryApproveCmd(pf *profileFlags) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "approve <username> <code>",
		Short: "Hand your share to someone recovering (after checking it is them)",
		Args:  cobra.MinimumNArgs(2),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			req, err := cl.InspectRecovery(c.Context(), args[0], strings.Join(args[1:], ""))
			if err != nil {
				return explain(err)
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "%s asks to recover their account. Their new device shows:\n  %s\n", req.Username, req.Fingerprint)
			if !yes {
				ok, err := askYes(fmt.Sprintf("Did %s tell you this fingerprint themselves (call them)? [y/N] ", req.Username))
				if err != nil {
					return fmt.Errorf("%v: check with %s, then run again with --yes", err, req.Username)
				}
				if !ok {
					return errors.New("not approved: nothing was sent")
				}
			}
			if err := cl.ApproveRecovery(c.Context(), req); err != nil {
				return explain(err)
			}
			fmt.Fprintf(out, "your share went to %s's recovery\n", req.Username)
			return nil
		}),
	}
	c.Flags().BoolVar(&yes, "yes", false, "approve without asking (for scripts; check with the person first)")
	return c
}

func newRecoverySharesCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "shares",
		Short: "List the recovery shares you hold for others",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			held, err := cl.HeldShares(c.Context())
			if err != nil {
				return explain(err)
			}
			if len(held) == 0 {
				fmt.Fprintln(c.OutOrStdout(), "you hold no recovery shares")
			}
			for _, h := range held {
				fmt.Fprintf(c.OutOrStdout(), "%s: %d of %d (set %s, since %s)\n", h.Owner, h.Threshold, h.Total, h.SetID[:8], h.Received.Format("2006-01-02"))
			}
			return nil
		}),
	}
}
