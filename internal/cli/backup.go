package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
)

// backupFlags are the flags of hush backup's subcommands.
type backupFlags struct {
	passphraseFile string
}

// passphrase reads the backup passphrase: --backup-passphrase-file, else
// $HUSH_BACKUP_PASSPHRASE, else a prompt (asked twice with confirm).
func (b *backupFlags) passphrase(confirm bool) ([]byte, error) {
	return readSecret(secretSource{file: b.passphraseFile, flag: "--backup-passphrase-file", env: "HUSH_BACKUP_PASSPHRASE",
		prompt: "backup passphrase: "}, confirm)
}

func newBackupCmd(pf *profileFlags) *cobra.Command {
	var bf backupFlags
	c := &cobra.Command{
		Use:   "backup",
		Short: "Back up your identity on the server, restore it on a new machine",
		Long: `Back up your identity, contacts, groups and settings (and with --with-history
your messages) on the server, encrypted under a backup passphrase, and restore them
on a new machine as a new device of the same identity: contacts see a device added,
not a new key.

The backup passphrase comes from --backup-passphrase-file, $HUSH_BACKUP_PASSPHRASE
or a prompt. Choose a long one: every guess needs the server's help and a costly
derivation, and the server answers a few tries per account and day (10 by default),
then locks the backup until the day passes or you run hush backup unlock on a device
of yours; but the server's operator can guess without that limit (doc/THREATS.md).`,
	}
	c.PersistentFlags().StringVar(&bf.passphraseFile, "backup-passphrase-file", "", "read the backup passphrase from this file (else $HUSH_BACKUP_PASSPHRASE, else a prompt)")
	c.AddCommand(newBackupCreateCmd(pf, &bf), newBackupRestoreCmd(pf, &bf), newBackupPasswdCmd(pf, &bf), newBackupUnlockCmd(pf))
	return c
}

func newBackupCreateCmd(pf *profileFlags, bf *backupFlags) *cobra.Command {
	var withHistory bool
	c := &cobra.Command{
		Use:   "create",
		Short: "Store an encrypted backup of this identity on the server (replacing any)",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			pw, err := bf.passphrase(true)
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			info, err := cl.CreateBackup(c.Context(), pw, hush.BackupOptions{WithHistory: withHistory,
				BeforeUpload: func(i hush.BackupInfo) error {
					fmt.Fprintf(out, "backup of %s: %s, uploading\n", backupContents(i), backupSize(int64(i.Size)))
					return nil
				}})
			if err != nil {
				return explainBackup(err)
			}
			fmt.Fprintf(out, "backup stored on %s (%s); restore it with: hush backup restore %s --server %s\n",
				cl.ServerURL(), backupSize(int64(info.Size)), cl.Username(), cl.ServerURL())
			return nil
		}),
	}
	c.Flags().BoolVar(&withHistory, "with-history", false, "include the message history")
	return c
}

// backupContents says what a backup holds, for people.
func backupContents(i hush.BackupInfo) string {
	s := "the identity, " + nounCount(i.Contacts, "contact") + ", " + nounCount(i.Groups, "group")
	if i.WithHistory {
		s += ", " + nounCount(i.Messages, "message")
	}
	return s
}

// nounCount is "1 contact", "2 contacts".
func nounCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// backupSize formats a byte count.
func backupSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func newBackupRestoreCmd(pf *profileFlags, bf *backupFlags) *cobra.Command {
	var server, serverKey, broker string
	c := &cobra.Command{
		Use:   "restore <username>",
		Short: "Restore your identity from its backup, making this machine a new device",
		Long: `Restore your identity from the backup on the server into a new profile (--home),
as a new device of the account. The backup passphrase comes from
--backup-passphrase-file, $HUSH_BACKUP_PASSPHRASE or a prompt; the new profile's
passphrase from --passphrase-file, $HUSH_PASSPHRASE or a prompt (asked twice).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if server == "" {
				return usageError{errors.New("--server URL is required: the server that holds the backup")}
			}
			bpw, err := bf.passphrase(false)
			if err != nil {
				return err
			}
			pw, err := pf.passphrase(c, true)
			if err != nil {
				return err
			}
			cl, err := hush.RestoreBackup(c.Context(), hush.Options{Home: pf.homeDir(), Passphrase: pw, ServerURL: server,
				ServerKey: serverKey, BrokerURL: broker}, args[0], bpw)
			if errors.Is(err, hush.ErrProfileExists) {
				return fmt.Errorf("a hush profile already exists in %s: restore into another directory with --home", pf.homeDir())
			}
			if err != nil {
				return explainBackup(err)
			}
			defer cl.Close()
			fmt.Fprintf(c.OutOrStdout(), "%s, device %d\n", cl.Username(), cl.DeviceID())
			return nil
		},
	}
	c.Flags().StringVar(&server, "server", "", "the server that holds the backup (required)")
	c.Flags().StringVar(&serverKey, "server-key", "", "the server's key fingerprint, when its key changed since the backup")
	c.Flags().StringVar(&broker, "broker", "", "receive in direct mode on this MQTT broker")
	return c
}

func newBackupPasswdCmd(pf *profileFlags, bf *backupFlags) *cobra.Command {
	var newFile string
	c := &cobra.Command{
		Use:   "passwd",
		Short: "Change the backup passphrase",
		Long: `Change the passphrase of the backup on the server. The current one comes from
--backup-passphrase-file, $HUSH_BACKUP_PASSPHRASE or a prompt; the new one from
--new-backup-passphrase-file, $HUSH_NEW_BACKUP_PASSPHRASE or a prompt (asked twice).
Whoever knew the old passphrase and kept a copy of the old backup can still open
that copy: make a new backup with hush backup create if that matters.`,
		Args: cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			current, err := bf.passphrase(false)
			if err != nil {
				return err
			}
			next, err := readSecret(secretSource{file: newFile, flag: "--new-backup-passphrase-file", env: "HUSH_NEW_BACKUP_PASSPHRASE",
				prompt: "new backup passphrase: "}, true)
			if err != nil {
				return err
			}
			if string(next) == string(current) {
				return errors.New("the new backup passphrase is the one in use: choose another")
			}
			if err := cl.ChangeBackupPassphrase(c.Context(), current, next); err != nil {
				return explainBackup(err)
			}
			fmt.Fprintln(c.OutOrStdout(), "backup passphrase changed: use the new one to restore")
			return nil
		}),
	}
	c.Flags().StringVar(&newFile, "new-backup-passphrase-file", "", "read the new backup passphrase from this file (else $HUSH_NEW_BACKUP_PASSPHRASE, else a prompt)")
	return c
}

func newBackupUnlockCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Lift the lock on your backup after too many passphrase tries",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			if err := cl.UnlockBackup(c.Context()); err != nil {
				return explainBackup(err)
			}
			fmt.Fprintln(c.OutOrStdout(), "backup unlocked: the passphrase tries start again")
			return nil
		}),
	}
}

// explainBackup turns backup errors into the one line a user reads; the
// SDK's backup errors already name the next step.
func explainBackup(err error) error {
	var pe *hush.BackupPassphraseError
	var le *hush.BackupLockedError
	switch {
	case errors.As(err, &pe), errors.As(err, &le), errors.Is(err, hush.ErrNoBackup), errors.Is(err, hush.ErrBackupsUnsupported),
		errors.Is(err, hush.ErrBackupDamaged):
		return err
	}
	return explain(err)
}
