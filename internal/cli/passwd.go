package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
)

func newPasswdCmd(pf *profileFlags) *cobra.Command {
	var newFile string
	c := &cobra.Command{
		Use:   "passwd",
		Short: "Change the passphrase that unlocks this profile",
		Long: `Change the passphrase that unlocks this profile. The current passphrase comes
from --passphrase-file, $HUSH_PASSPHRASE or a prompt; the new one from
--new-passphrase-file, $HUSH_NEW_PASSPHRASE or a prompt (asked twice). The profile
is re-encrypted in one step: if it is interrupted, the old passphrase still works.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			current, err := pf.passphrase(c, false)
			if err != nil {
				return err
			}
			cl, err := hush.Open(c.Context(), hush.Options{Home: pf.homeDir(), Passphrase: current})
			if err != nil {
				return explain(err)
			}
			defer cl.Close()
			next, err := readSecret(secretSource{file: newFile, flag: "--new-passphrase-file", env: "HUSH_NEW_PASSPHRASE", prompt: "new passphrase: "}, true)
			if err != nil {
				return err
			}
			if string(next) == string(current) {
				return errors.New("the new passphrase is the one in use: choose another")
			}
			if err := cl.ChangePassphrase(c.Context(), current, next); err != nil {
				return explain(err)
			}
			fmt.Fprintln(c.OutOrStdout(), "passphrase changed: use the new one from now on")
			return nil
		},
	}
	c.Flags().StringVar(&newFile, "new-passphrase-file", "", "read the new passphrase from this file (else $HUSH_NEW_PASSPHRASE, else a prompt)")
	return c
}
