package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/hush-chat/hush/internal/server"
)

// serverFileFlags are the flags of the server tools that find a
// deployment's files as hush server does: --config, --data, --db and
// --signing-key, over HUSH_SERVER_* variables.
type serverFileFlags struct {
	config, data, db, signingKey string
}

func (sf *serverFileFlags) register(c *cobra.Command, withKey bool) {
	f := c.Flags()
	f.StringVar(&sf.config, "config", "", "the server's TOML configuration file")
	f.StringVar(&sf.data, "data", "", "the server's data directory; default under the XDG data dir")
	f.StringVar(&sf.db, "db", "", "the server's database URL, if not SQLite in the data directory")
	if withKey {
		f.StringVar(&sf.signingKey, "signing-key", "", "the server's signing key file, if not server.key in the data directory")
	}
}

// load returns the deployment's configuration: file, environment, flags.
func (sf *serverFileFlags) load(c *cobra.Command) (server.Config, error) {
	cfg := server.Defaults()
	if sf.config != "" {
		if err := cfg.LoadFile(sf.config); err != nil {
			return cfg, err
		}
	}
	if err := cfg.LoadEnv(os.Getenv); err != nil {
		return cfg, err
	}
	for name, dst := range map[string]*string{"data": &cfg.DataDir, "db": &cfg.DB, "signing-key": &cfg.SigningKey} {
		if f := c.Flags().Lookup(name); f != nil && f.Changed {
			*dst = f.Value.String()
		}
	}
	return cfg, nil
}

func newServerKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen FILE",
		Short: "Make a server signing key file for hush server --signing-key",
		Long: `Make a new server signing key and write it to FILE (owner-only; an existing file is never
replaced). With HUSH_SERVER_KEY_PASSPHRASE set the file is encrypted under it, and every
server reading it needs the same variable. It prints the key's fingerprint: the one users
compare with what hush init shows. Give the file to every instance of the deployment
(hush server --signing-key FILE, or a secret mounted as that file).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			fp, err := server.Keygen(args[0], []byte(os.Getenv("HUSH_SERVER_KEY_PASSPHRASE")))
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s exists already: give a new file name (a key file is never replaced)", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), "fingerprint "+fp)
			return nil
		},
	}
}

func newServerRotateKeyCmd() *cobra.Command {
	var sf serverFileFlags
	c := &cobra.Command{
		Use:   "rotate-key --signing-key FILE",
		Short: "Make the database expect a new server signing key",
		Long: `Record the key in FILE (from hush server keygen) as the one the deployment's database
expects. From then on only instances started with that key start; restart every running
instance with it. Clients that pinned the old key report "the server's signing key changed"
with both fingerprints until each user runs hush config trust-server-key, after checking the
new fingerprint with the operator: tell users the new fingerprint before rotating.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := sf.load(c)
			if err != nil {
				return err
			}
			if !c.Flags().Changed("signing-key") {
				return usageError{errors.New("--signing-key FILE is required: the new key (make it with hush server keygen FILE)")}
			}
			old, cur, err := server.RotateKey(c.Context(), cfg, cfg.SigningKey)
			if err != nil {
				return err
			}
			if old == "" {
				old = "none recorded"
			}
			fmt.Fprintf(c.OutOrStdout(), "was %s\nnow %s\n", old, cur)
			fmt.Fprintln(c.ErrOrStderr(), "restart every instance with --signing-key "+cfg.SigningKey+"; users confirm the new fingerprint and run hush config trust-server-key")
			return nil
		},
	}
	sf.register(c, true)
	return c
}

func newServerBackupCmd() *cobra.Command {
	var sf serverFileFlags
	c := &cobra.Command{
		Use:   "backup DIR",
		Short: "Copy a SQLite deployment, while it runs, into a new directory",
		Long: `Write a consistent copy of a SQLite deployment into DIR (new or empty): the database as
one snapshot, the attachment chunk files it refers to (checked against their SHA-256) and
the signing key file as it is (encrypted or not). The server may keep running. DIR is a data
directory: restore by starting hush server --data DIR, or by copying DIR's contents into the
data directory of a stopped server. A PostgreSQL deployment is backed up with pg_dump.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := sf.load(c)
			if err != nil {
				return err
			}
			res, err := server.Backup(c.Context(), cfg, args[0])
			if err != nil {
				return err
			}
			fp := res.Fingerprint
			if fp == "" {
				fp = "(encrypted: set HUSH_SERVER_KEY_PASSPHRASE to show its fingerprint)"
			}
			fmt.Fprintf(c.OutOrStdout(), "backed up to %s: database, %d attachment chunks (%d bytes), signing key %s\n",
				res.Dir, res.Chunks, res.ChunkBytes, fp)
			return nil
		},
	}
	sf.register(c, true)
	return c
}
