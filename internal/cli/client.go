package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hush-chat/hush/internal/client"
)

// profileFlags are the flags every profile command shares.
type profileFlags struct {
	home           string
	passphraseFile string
}

func (p *profileFlags) register(c *cobra.Command) {
	c.PersistentFlags().StringVar(&p.home, "home", "", "profile directory (default $HUSH_HOME or the XDG data dir)")
	c.PersistentFlags().StringVar(&p.passphraseFile, "passphrase-file", "", "read the passphrase from this file (else $HUSH_PASSPHRASE, else a prompt)")
}

// passphrase returns the passphrase from the file, the environment or a
// prompt on the terminal (asked twice when confirm is set).
func (p *profileFlags) passphrase(c *cobra.Command, confirm bool) ([]byte, error) {
	if p.passphraseFile != "" {
		b, err := os.ReadFile(p.passphraseFile)
		if err != nil {
			return nil, fmt.Errorf("passphrase file: %w", err)
		}
		return bytes.TrimRight(b, "\r\n"), nil
	}
	if v := os.Getenv("HUSH_PASSPHRASE"); v != "" {
		return []byte(v), nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errors.New("no passphrase: set HUSH_PASSPHRASE, use --passphrase-file, or run in a terminal")
	}
	defer tty.Close()
	ask := func(prompt string) ([]byte, error) {
		fmt.Fprint(tty, prompt)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return b, err
	}
	pw, err := ask("passphrase: ")
	if err != nil {
		return nil, err
	}
	if confirm {
		again, err := ask("again: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("the passphrases differ")
		}
	}
	if len(pw) == 0 {
		return nil, errors.New("empty passphrase")
	}
	return pw, nil
}

// open unlocks the profile.
func (p *profileFlags) open(c *cobra.Command) (*client.Client, error) {
	pw, err := p.passphrase(c, false)
	if err != nil {
		return nil, err
	}
	cl, err := client.Open(c.Context(), client.Options{Home: p.home, Passphrase: pw})
	return cl, explain(err)
}

// with wraps a command body that needs the unlocked profile: it opens the
// profile before and closes it after.
func (p *profileFlags) with(run func(c *cobra.Command, cl *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		cl, err := p.open(c)
		if err != nil {
			return err
		}
		defer cl.Close()
		return run(c, cl, args)
	}
}

// explain turns library errors into the one line a user reads.
func explain(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrWrongPassphrase):
		return errors.New("wrong passphrase")
	case errors.Is(err, client.ErrNoProfile):
		return errors.New("no hush profile here: run hush init <username> --server URL first (or pass --home)")
	case errors.Is(err, client.ErrServerUnreachable):
		return fmt.Errorf("cannot reach the server: %v", err)
	}
	return err
}

// reportRefused prints one line per envelope Sync refused and turns the
// error into what the command returns: the failure that stopped Sync, if
// any, else an exit status of 1 with nothing more to print.
func reportRefused(stderr io.Writer, err error) error {
	var re *client.RefusedError
	if !errors.As(err, &re) {
		return explain(err)
	}
	for _, r := range re.Reasons {
		fmt.Fprintln(stderr, "hush: refused an envelope:", r)
	}
	if re.Err != nil {
		return explain(re.Err)
	}
	return exitStatus(1)
}

func withSignals(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func addClientCommands(root *cobra.Command) {
	var pf profileFlags
	pf.register(root)
	root.AddCommand(newInitCmd(&pf), newWhoamiCmd(&pf), newSendCmd(&pf), newListenCmd(&pf), newSyncCmd(&pf),
		newHistoryCmd(&pf), newContactsCmd(&pf), newVerifyCmd(&pf), newConfigCmd(&pf), newChatCmd(&pf), newDemoCmd(),
		newDeleteAccountCmd(&pf))
	root.AddCommand(newSendFileCmd(&pf), newFilesCmd(&pf), newGetCmd(&pf))
	root.AddCommand(newExportCmd(&pf))
	root.AddCommand(newGroupCmd(&pf)) // groups.go
}

func newInitCmd(pf *profileFlags) *cobra.Command {
	var server, email, broker string
	c := &cobra.Command{
		Use:   "init <username>",
		Short: "Create your identity and register it with a server",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if server == "" {
				return usageError{errors.New("--server URL is required")}
			}
			pw, err := pf.passphrase(c, true)
			if err != nil {
				return err
			}
			cl, err := client.Create(c.Context(), client.Options{Home: pf.home, Passphrase: pw, ServerURL: server, BrokerURL: broker}, args[0], email)
			if errors.Is(err, client.ErrProfileExists) {
				return errors.New("a profile already exists in this home directory (use --home for another)")
			}
			if errors.Is(err, client.ErrUsernameTaken) {
				return fmt.Errorf("the username %s is taken on this server", args[0])
			}
			if err != nil {
				return explain(err)
			}
			defer cl.Close()
			fmt.Fprintf(c.OutOrStdout(), "created %s on %s\nfingerprint %s\n", cl.Username(), cl.ServerURL(), cl.Fingerprint())
			if email != "" {
				fmt.Fprintln(c.OutOrStdout(), "if the server sends activation e-mails, open the link sent to", email)
			}
			return nil
		},
	}
	c.Flags().StringVar(&server, "server", "", "hush server URL (http://host:port)")
	c.Flags().StringVar(&email, "email", "", "e-mail address for account activation")
	c.Flags().StringVar(&broker, "broker", "", "direct mode: send and receive through this MQTT broker (mqtt://host:port)")
	return c
}

func newWhoamiCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show your username, device, server and key fingerprint",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *client.Client, _ []string) error {
			fmt.Fprintf(c.OutOrStdout(), "%s (device %d) on %s\nfingerprint %s\n", cl.Username(), cl.DeviceID(), cl.ServerURL(), cl.Fingerprint())
			return nil
		}),
	}
}

func newSendCmd(pf *profileFlags) *cobra.Command {
	var eachLine bool
	c := &cobra.Command{
		Use:   "send <user> <text…|->",
		Short: "Send a message (use - to read it from standard input)",
		Long: `Send a message to a user. With - the text is read from standard input; with
--each-line every line of standard input is sent as a message of its own, in order.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if eachLine {
				return sendLines(c, pf, args[0])
			}
			if len(args) < 2 {
				return usageError{errors.New("nothing to send: give the text, or - to read standard input")}
			}
			text := strings.Join(args[1:], " ")
			if len(args) == 2 && args[1] == "-" {
				b, err := io.ReadAll(io.LimitReader(c.InOrStdin(), client.MaxMemo+1))
				if err != nil {
					return err
				}
				text = strings.TrimRight(string(b), "\n")
			}
			cl, err := pf.open(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			_, err = cl.Send(c.Context(), args[0], text)
			return explainSend(err, args[0])
		},
	}
	c.Flags().BoolVar(&eachLine, "each-line", false, "send every line of standard input as its own message")
	return c
}

func sendLines(c *cobra.Command, pf *profileFlags, to string) error {
	cl, err := pf.open(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	sc := bufio.NewScanner(c.InOrStdin())
	sc.Buffer(make([]byte, 0, 64<<10), client.MaxText+1)
	n := 0
	for sc.Scan() {
		if _, err := cl.Send(c.Context(), to, sc.Text()); err != nil {
			return fmt.Errorf("after %d messages: %w", n, explainSend(err, to))
		}
		n++
	}
	return sc.Err()
}

func newHistoryCmd(pf *profileFlags) *cobra.Command {
	var asJSON bool
	var limit int
	c := &cobra.Command{
		Use:   "history <user>",
		Short: "Print the stored conversation with a user",
		Args:  cobra.ExactArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *client.Client, args []string) error {
			ms, err := cl.History(c.Context(), args[0], limit)
			if err != nil {
				return err
			}
			out := bufio.NewWriter(c.OutOrStdout())
			for i := range ms {
				printMessage(out, &ms[i], asJSON)
			}
			return out.Flush()
		}),
	}
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line")
	c.Flags().IntVar(&limit, "limit", 0, "only the last N messages (0: all)")
	return c
}

func explainSend(err error, to string) error {
	switch {
	case errors.Is(err, client.ErrUnknownGroup):
		return fmt.Errorf("unknown group %s (hush group list shows yours)", to)
	case errors.Is(err, client.ErrUnknownUser):
		return fmt.Errorf("unknown user %s", to)
	case errors.Is(err, client.ErrIdentityChanged):
		return fmt.Errorf("%s's identity key changed: compare safety numbers (hush verify %s), then accept the new key with hush verify %s --accept", to, to, to)
	case errors.Is(err, client.ErrTooLarge):
		return fmt.Errorf("message too large: at most %d bytes (longer texts: send them as a file)", client.MaxMemo)
	}
	return explain(err)
}

// jsonMessage is the --json line of listen and sync.
type jsonMessage struct {
	ID     string       `json:"id"`
	From   string       `json:"from"`
	Device uint32       `json:"from_device"`
	To     string       `json:"to"`
	SentAt string       `json:"sent_at"`
	Text   string       `json:"text"`
	File   *messageFile `json:"file,omitempty"`
}

type messageFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	Path string `json:"path,omitempty"`
}

func printMessage(w io.Writer, m *client.Message, asJSON bool) {
	file := m.Attachment != nil && !m.Attachment.Memo
	if asJSON {
		jm := jsonMessage{ID: m.ID, From: m.From, Device: m.FromDevice, To: m.To,
			SentAt: m.SentAt.UTC().Format(time.RFC3339Nano), Text: m.Text}
		if file {
			jm.File = &messageFile{Name: m.Attachment.Name, Size: m.Attachment.Size, Path: m.Attachment.Path}
		}
		b, _ := json.Marshal(jm)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	text := m.Text
	if file {
		text = fmt.Sprintf("[file %s, %d bytes: hush get %s]", m.Attachment.Name, m.Attachment.Size, m.ID)
	}
	fmt.Fprintf(w, "%s %s: %s\n", m.SentAt.Local().Format("2006-01-02 15:04:05"), m.From, text)
}

func newListenCmd(pf *profileFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "listen",
		Short: "Print incoming messages as they arrive, until interrupted",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *client.Client, _ []string) error {
			ctx, stop := withSignals(c.Context())
			defer stop()
			out := bufio.NewWriter(c.OutOrStdout())
			err := cl.Listen(ctx, func(e client.Event) {
				if e.Message != nil {
					printMessage(out, e.Message, asJSON)
					out.Flush()
				} else if e.Err != nil {
					fmt.Fprintln(c.ErrOrStderr(), "hush:", e.Err)
				}
			})
			return explain(err)
		}),
	}
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line (id, from, to, sent_at, text)")
	return c
}

func newSyncCmd(pf *profileFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "sync",
		Short: "Fetch pending messages, print them and exit",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *client.Client, _ []string) error {
			msgs, err := cl.Sync(c.Context())
			out := bufio.NewWriter(c.OutOrStdout())
			for i := range msgs {
				printMessage(out, &msgs[i], asJSON)
			}
			out.Flush()
			return reportRefused(c.ErrOrStderr(), err)
		}),
	}
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line (id, from, to, sent_at, text)")
	return c
}

func newContactsCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "contacts",
		Short: "List your contacts and their verification state",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *client.Client, _ []string) error {
			cs, err := cl.Contacts(c.Context())
			if err != nil {
				return err
			}
			for _, ct := range cs {
				state := "unverified"
				switch {
				case ct.Changed:
					state = "IDENTITY CHANGED"
				case ct.Verified:
					state = "verified"
				}
				fmt.Fprintf(c.OutOrStdout(), "%s\t%s\t%d device(s)\n", ct.Username, state, len(ct.Devices))
			}
			return nil
		}),
	}
}

func newConfigCmd(pf *profileFlags) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Show or change the profile's settings"}
	c.AddCommand(&cobra.Command{
		Use:  "show",
		Args: cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *client.Client, _ []string) error {
			cfg := cl.Config()
			for _, k := range []string{"username", "device", "server", "mqtt", "broker", "home"} {
				fmt.Fprintf(c.OutOrStdout(), "%s = %s\n", k, cfg[k])
			}
			return nil
		}),
	}, &cobra.Command{
		Use:  "set <key> <value>",
		Args: cobra.ExactArgs(2),
		RunE: pf.with(func(c *cobra.Command, cl *client.Client, args []string) error {
			return cl.SetConfig(c.Context(), args[0], args[1])
		}),
	})
	return c
}

func newDeleteAccountCmd(pf *profileFlags) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "delete-account",
		Short: "Delete your account from the server (the local history stays)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !yes {
				return usageError{errors.New("this deletes your account on the server: run again with --yes")}
			}
			cl, err := pf.open(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := cl.DeleteAccount(c.Context()); err != nil {
				return explain(err)
			}
			fmt.Fprintf(c.OutOrStdout(), "deleted %s from %s\n", cl.Username(), cl.ServerURL())
			return nil
		},
	}
	c.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return c
}
