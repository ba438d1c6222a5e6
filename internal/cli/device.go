package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
)

func newDeviceCmd(pf *profileFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "device",
		Short: "Link, list and remove the devices of your account",
		Long: `Every device of an account holds the same identity: contacts see one safety
number, and a device added or removed, never a key change.

On the new machine:       hush device link --server URL
On a device you have:     hush device approve <code>
Then:                     hush device list, hush device remove <id>`,
	}
	c.AddCommand(newDeviceLinkCmd(pf), newDeviceApproveCmd(pf), newDeviceListCmd(pf), newDeviceRemoveCmd(pf))
	return c
}

func newDeviceLinkCmd(pf *profileFlags) *cobra.Command {
	var server, serverKey string
	c := &cobra.Command{
		Use:   "link --server URL",
		Short: "Make this machine a new device of an account you have on another device",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if server == "" {
				return usageError{errors.New("--server URL is required (the server of the account)")}
			}
			pw, err := pf.passphrase(c, true)
			if err != nil {
				return err
			}
			ctx, stop := withSignals(c.Context())
			defer stop()
			link, err := hush.StartLink(ctx, hush.Options{Home: pf.homeDir(), Passphrase: pw, ServerURL: server, ServerKey: serverKey})
			if errors.Is(err, hush.ErrProfileExists) {
				return errors.New("a profile already exists in this home directory (use --home for another)")
			}
			if err != nil {
				return explain(err)
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "link code: %s\n", link.Code())
			qrterminal.GenerateHalfBlock(link.Code(), qrterminal.M, out)
			fmt.Fprintf(out, "On a device of your account run:\n  hush device approve %s\n", link.Code())
			fmt.Fprintf(out, "It shows this fingerprint; approve only if it is the same:\n  %s\n", link.Fingerprint())
			fmt.Fprintf(out, "waiting for the approval (until %s)…\n", link.ExpiresAt().Format("15:04"))
			cl, err := link.Wait(ctx)
			if err != nil {
				return explain(err)
			}
			defer cl.Close()
			fmt.Fprintf(out, "%s, device %d\nfingerprint %s\n", cl.Username(), cl.DeviceID(), cl.Fingerprint())
			return nil
		},
	}
	c.Flags().StringVar(&server, "server", "", "the account's server URL")
	c.Flags().StringVar(&serverKey, "server-key", "", "the server's key fingerprint, as hush server prints it (else the first key seen is trusted)")
	return c
}

func newDeviceApproveCmd(pf *profileFlags) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "approve <code>",
		Short: "Give a new device your account (after comparing its fingerprint)",
		Args:  cobra.MinimumNArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			code := strings.Join(args, "")
			req, err := cl.InspectLink(c.Context(), code)
			if err != nil {
				return explain(err)
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "new device fingerprint:\n  %s\n", req.Fingerprint)
			if !yes {
				ok, err := askYes("Is it the one the new device shows? It will hold your identity. [y/N] ")
				if err != nil {
					return fmt.Errorf("%v: compare the fingerprints, then run again with --yes", err)
				}
				if !ok {
					return errors.New("not approved: nothing was sent")
				}
			}
			id, err := cl.ApproveLink(c.Context(), req)
			if err != nil {
				return explain(err)
			}
			fmt.Fprintf(out, "approved: the new device becomes %s, device %d\n", cl.Username(), id)
			return nil
		}),
	}
	c.Flags().BoolVar(&yes, "yes", false, "approve without asking (for scripts; compare the fingerprint first)")
	return c
}

// askYes asks a yes/no question on the terminal.
func askYes(prompt string) (bool, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return false, errors.New("no terminal to ask on")
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

func newDeviceListCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the devices of your account",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			devs, err := cl.Devices(c.Context())
			if err != nil {
				return explain(err)
			}
			out := c.OutOrStdout()
			for _, d := range devs {
				note := ""
				if d.This {
					note = "  (this device)"
				}
				if !d.Listed {
					note += "  NOT in your signed device list: served by the directory alone"
				}
				fmt.Fprintf(out, "device %d  %s%s\n", d.ID, d.Fingerprint, note)
			}
			return nil
		}),
	}
}

func newDeviceRemoveCmd(pf *profileFlags) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "remove <id>",
		Short: "Remove a device from your account (also this one)",
		Args:  cobra.ExactArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 32)
			if err != nil || id == 0 {
				return usageError{fmt.Errorf("%q is not a device id (hush device list shows them)", args[0])}
			}
			if uint32(id) == cl.DeviceID() && !yes {
				return usageError{errors.New("this is the device you are using: it will receive nothing more; run again with --yes")}
			}
			if err := cl.RemoveDevice(c.Context(), uint32(id)); err != nil {
				return explain(err)
			}
			fmt.Fprintf(c.OutOrStdout(), "device %d removed: contacts stop sending to it\n", id)
			return nil
		}),
	}
	c.Flags().BoolVar(&yes, "yes", false, "confirm removing the device in use")
	return c
}

func newRotateIdentityCmd(pf *profileFlags) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "rotate-identity",
		Short: "Replace your identity key with a new one your old key signs over to",
		Long: `Replace your identity key. The old key signs the new one, so contacts move to it
without an identity-change warning (and keep you verified); your safety numbers
change. History and files stay readable. Other devices of the account are signed out
by a rotation: remove them first (hush device remove) and link them again after.`,
		Args: cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			if !yes {
				return usageError{errors.New("this replaces your identity key (your safety numbers change): run again with --yes")}
			}
			old := cl.Fingerprint()
			if err := cl.RotateIdentity(c.Context()); err != nil {
				return explain(err)
			}
			fmt.Fprintf(c.OutOrStdout(), "identity key rotated\nold fingerprint %s\nnew fingerprint %s\n", old, cl.Fingerprint())
			return nil
		}),
	}
	c.Flags().BoolVar(&yes, "yes", false, "confirm the rotation")
	return c
}
