package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/server"
	"github.com/hush-chat/hush/internal/server/directory"
	"github.com/hush-chat/hush/internal/textsafe"
)

// newServerInviteCmd is `hush server invite`: the operator issues an
// invite code straight into the server's database.
func newServerInviteCmd() *cobra.Command {
	var configFile, dataDir, db, baseURL, expires string
	var uses int
	c := &cobra.Command{
		Use:   "invite",
		Short: "Issue an invite code that lets newcomers register",
		Long: `Issue an invite code for a server that registers by invitation (hush server
--registration invite). It writes to the server's database, found as hush server finds it
(--data, --db, HUSH_SERVER_* variables or --config), whether the server is running or not.
Only a hash of the code is stored: the code is shown once. It prints the code and the
hush init line a newcomer runs.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ttl, err := parseValidity(expires)
			if err != nil {
				return usageError{fmt.Errorf("--expires: %w", err)}
			}
			if uses < 1 || uses > directory.MaxInviteUses {
				return usageError{fmt.Errorf("--uses must be 1 to %d", directory.MaxInviteUses)}
			}
			cfg := server.Defaults()
			if configFile != "" {
				if err := cfg.LoadFile(configFile); err != nil {
					return err
				}
			}
			if err := cfg.LoadEnv(os.Getenv); err != nil {
				return err
			}
			for name, dst := range map[string]*string{"data": &cfg.DataDir, "db": &cfg.DB, "base-url": &cfg.BaseURL} {
				if f := c.Flags().Lookup(name); f.Changed {
					*dst = f.Value.String()
				}
			}
			inv, err := server.IssueInvite(c.Context(), cfg, uses, ttl)
			if err != nil {
				return err
			}
			printInvite(c.OutOrStdout(), inv.Code, inv.Uses, inv.ExpiresAt, cfg.PublicURL())
			if cfg.Registration != string(directory.RegistrationInvite) {
				// The running server may have been started with the flag.
				fmt.Fprintln(c.ErrOrStderr(), "note: the code is needed only while the server runs with --registration invite (registration = \"invite\")")
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&configFile, "config", "", "the server's TOML configuration file")
	f.StringVar(&dataDir, "data", "", "the server's data directory; default under the XDG data dir")
	f.StringVar(&db, "db", "", "the server's database URL, if not SQLite in the data directory")
	f.StringVar(&baseURL, "base-url", "", "the server's public URL, for the printed hush init line")
	f.IntVar(&uses, "uses", 1, "how many registrations the code admits")
	f.StringVar(&expires, "expires", "7d", "how long the code stays valid (7d, 12h, 30m)")
	return c
}

// newInviteCmd is `hush invite`: a user issues an invite, where the
// server's operator allows it.
func newInviteCmd(pf *profileFlags) *cobra.Command {
	var expires string
	c := &cobra.Command{
		Use:   "invite",
		Short: "Issue an invite code that lets one newcomer register on your server",
		Long: `Issue a one-use invite code for your server, if it registers by invitation and
its operator lets users invite (hush server --user-invites N). Prints the code and the hush init
line the newcomer runs.`,
		Args: cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			ttl, err := parseValidity(expires)
			if err != nil {
				return usageError{fmt.Errorf("--expires: %w", err)}
			}
			inv, err := cl.CreateInvite(c.Context(), ttl)
			if err != nil {
				return explainRegistration(err, "", cl.ServerURL())
			}
			printInvite(c.OutOrStdout(), inv.Code, 1, inv.ExpiresAt, cl.ServerURL())
			fmt.Fprintf(c.OutOrStdout(), "invites left: %d\n", inv.InvitesLeft)
			return nil
		}),
	}
	c.Flags().StringVar(&expires, "expires", "7d", "how long the code stays valid (at most 30d)")
	return c
}

func printInvite(w io.Writer, code string, uses int, expires time.Time, serverURL string) {
	what := "1 registration"
	if uses != 1 {
		what = strconv.Itoa(uses) + " registrations"
	}
	fmt.Fprintf(w, "invite code %s (%s, valid until %s)\n", code, what, expires.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(w, "the newcomer registers with (NAME: the username they choose):")
	fmt.Fprintf(w, "hush init NAME --server %s --invite %s\n", serverURL, code)
}

// parseValidity reads a validity: a count of days ("7d") or a Go
// duration ("12h", "30m").
func parseValidity(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 3650 {
			return 0, fmt.Errorf("%q: want 1d to 3650d, or a duration such as 12h", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < time.Minute {
			return 0, fmt.Errorf("%q: want a number of days (7d) or a duration of at least 1m (12h, 30m)", s)
		}
	}
	return d, nil
}

// explainRegistration turns a refused registration or invite request
// into one line with the next step; other errors go to explain.
func explainRegistration(err error, username, serverURL string) error {
	var limited *hush.RateLimitedError
	switch {
	case errors.Is(err, hush.ErrRegistrationClosed):
		return errors.New("registration is closed on this server; ask its operator")
	case errors.Is(err, hush.ErrInviteRequired):
		if username == "" {
			username = "NAME"
		}
		return fmt.Errorf("this server registers new accounts by invitation only: ask its operator or a user for an invite code, "+
			"then run hush init %s --server %s --invite CODE", username, serverURL)
	case errors.Is(err, hush.ErrInviteInvalid):
		return errors.New("the invite code is not valid on this server: check it for typos, or ask whoever gave it to you for a new one")
	case errors.Is(err, hush.ErrInviteUsed):
		return errors.New("the invite code was already used: ask whoever gave it to you for a new one")
	case errors.Is(err, hush.ErrInviteExpired):
		return errors.New("the invite code has expired: ask whoever gave it to you for a new one")
	case errors.Is(err, hush.ErrInvitesDisabled), errors.Is(err, hush.ErrInviteLimit):
		return errors.New(textsafe.Line(err.Error()))
	case errors.As(err, &limited):
		return fmt.Errorf("the server refuses this for now: %s", textsafe.Line(limited.Message))
	}
	return explain(err)
}
