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
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/textsafe"
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

// homeDir returns the profile directory: --home, else $HUSH_HOME, else
// $XDG_DATA_HOME/hush, else ~/.local/share/hush.
func (p *profileFlags) homeDir() string {
	if p.home != "" {
		return p.home
	}
	if h := os.Getenv("HUSH_HOME"); h != "" {
		return h
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "hush")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "hush")
	}
	return ".hush"
}

// passphrase returns the passphrase from the file, the environment or a
// prompt on the terminal (asked twice when confirm is set).
func (p *profileFlags) passphrase(c *cobra.Command, confirm bool) ([]byte, error) {
	return readSecret(secretSource{file: p.passphraseFile, flag: "--passphrase-file", env: "HUSH_PASSPHRASE", prompt: "passphrase: "}, confirm)
}

// secretSource says where a passphrase may come from: a file named by a
// flag, an environment variable, or a prompt on the terminal.
type secretSource struct {
	file, flag, env, prompt string
}

// readSecret reads a passphrase from src: the file if one is named, else
// the environment variable if set, else the terminal (asked twice when
// confirm is set). An empty passphrase is refused.
func readSecret(src secretSource, confirm bool) ([]byte, error) {
	if src.file != "" {
		b, err := os.ReadFile(src.file)
		if err != nil {
			return nil, fmt.Errorf("passphrase file: %w", err)
		}
		if b = bytes.TrimRight(b, "\r\n"); len(b) == 0 {
			return nil, fmt.Errorf("the file %s is empty: put the passphrase in it", src.file)
		}
		return b, nil
	}
	if v := os.Getenv(src.env); v != "" {
		return []byte(v), nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("no passphrase: set %s, use %s, or run in a terminal", src.env, src.flag)
	}
	defer tty.Close()
	ask := func(prompt string) ([]byte, error) {
		fmt.Fprint(tty, prompt)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return b, err
	}
	pw, err := ask(src.prompt)
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
func (p *profileFlags) open(c *cobra.Command) (*hush.Client, error) {
	pw, err := p.passphrase(c, false)
	if err != nil {
		return nil, err
	}
	cl, err := hush.Open(c.Context(), hush.Options{Home: p.homeDir(), Passphrase: pw})
	if err == nil && cl.Restored() {
		fmt.Fprintln(c.ErrOrStderr(), "hush: this profile is an older copy of itself (restored from a backup?): its sessions start anew, and contacts are asked to send again what it cannot read")
	}
	return cl, explain(err)
}

// with wraps a command body that needs the unlocked profile: it opens the
// profile before and closes it after.
func (p *profileFlags) with(run func(c *cobra.Command, cl *hush.Client, args []string) error) func(*cobra.Command, []string) error {
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
	var unreachable *hush.UnreachableError
	var keyChanged *hush.ServerKeyChangedError
	var deleted *hush.AccountDeletedError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hush.ErrWrongPassphrase):
		return errors.New("wrong passphrase")
	case errors.Is(err, hush.ErrNoProfile):
		return errors.New("no hush profile here: run hush init <username> --server URL first (or pass --home)")
	case errors.Is(err, hush.ErrProfileBusy):
		return errors.New("another hush process (listen or chat) is receiving for this profile; its output shows new messages (stop it to use this command)")
	case errors.As(err, &unreachable) && unreachable.What == "server":
		return fmt.Errorf("%v (is hush server running? check --server or hush config show)", unreachable)
	case errors.As(err, &unreachable):
		return fmt.Errorf("%v (check the mqtt and broker settings: hush config show)", unreachable)
	case errors.As(err, &keyChanged):
		served := keyChanged.Served
		if served == "" {
			served = "(could not be fetched)"
		}
		return fmt.Errorf("the server's signing key changed: pinned %s, now %s. Either its operator replaced or restored the key (ask them), "+
			"or someone intercepts your connection; nothing from it is trusted until you decide. "+
			"Only if the operator confirms the new key: hush config trust-server-key", keyChanged.Pinned, served)
	case errors.As(err, &deleted):
		return fmt.Errorf("your account %s was deleted from the server; this profile can still read its history (hush history) but cannot send or receive", deleted.Username)
	case errors.Is(err, hush.ErrFileGone):
		return errors.New("the file is no longer on the server (every recipient fetched it, or it expired); ask the sender to send it again")
	case errors.Is(err, hush.ErrEmptyMessage):
		return errors.New("nothing to send: the message is empty")
	}
	return err
}

func withSignals(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func addClientCommands(root *cobra.Command) {
	var pf profileFlags
	pf.register(root)
	root.AddCommand(newInitCmd(&pf), newWhoamiCmd(&pf), newSendCmd(&pf), newListenCmd(&pf), newSyncCmd(&pf),
		newHistoryCmd(&pf), newContactsCmd(&pf), newVerifyCmd(&pf), newConfigCmd(&pf), newChatCmd(&pf), newDemoCmd(),
		newDeleteAccountCmd(&pf), newOutboxCmd(&pf), newPasswdCmd(&pf), newDeviceCmd(&pf), newRotateIdentityCmd(&pf), newRecoveryCmd(&pf))
	root.AddCommand(newSendFileCmd(&pf), newFilesCmd(&pf), newGetCmd(&pf))
	root.AddCommand(newExportCmd(&pf))
	root.AddCommand(newGroupCmd(&pf)) // groups.go
	root.AddCommand(newInviteCmd(&pf))
	root.AddCommand(newBackupCmd(&pf)) // backup.go
}

func newInitCmd(pf *profileFlags) *cobra.Command {
	var server, email, broker, invite, serverKey string
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
			cl, err := hush.Create(c.Context(), hush.Options{Home: pf.homeDir(), Passphrase: pw, ServerURL: server, BrokerURL: broker,
				Invite: invite, ServerKey: serverKey}, args[0], email)
			if errors.Is(err, hush.ErrServerKeyMismatch) {
				return fmt.Errorf("%v (nothing was registered)", err)
			}
			if errors.Is(err, hush.ErrProfileExists) {
				return errors.New("a profile already exists in this home directory (use --home for another)")
			}
			if errors.Is(err, hush.ErrUsernameTaken) {
				return fmt.Errorf("the username %s is taken on this server", args[0])
			}
			if err != nil {
				return explainRegistration(err, args[0], server)
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
	c.Flags().StringVar(&invite, "invite", "", "invite code, for a server that registers by invitation")
	c.Flags().StringVar(&serverKey, "server-key", "", "the server key fingerprint its operator published: refuse a server with another key")
	return c
}

func newWhoamiCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show your username, device, server and key fingerprint",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			fmt.Fprintf(c.OutOrStdout(), "%s (device %d) on %s\nfingerprint %s\n", cl.Username(), cl.DeviceID(), cl.ServerURL(), cl.Fingerprint())
			return nil
		}),
	}
}

func newSendCmd(pf *profileFlags) *cobra.Command {
	var eachLine bool
	var dataFile string
	c := &cobra.Command{
		Use:   "send <user> <text…|->",
		Short: "Send a message (use - to read it from standard input)",
		Long: `Send a message to a user. With - the text is read from standard input; with
--each-line every line of standard input is sent as a message of its own, in order
(empty lines are skipped). An empty message is refused. With --data-file the file's
bytes (1 to 65,536) are sent as one data message, for the recipient's application.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if dataFile != "" {
				return sendDataFile(c, pf, args, dataFile)
			}
			if eachLine {
				return sendLines(c, pf, args[0])
			}
			if len(args) < 2 {
				return usageError{errors.New("nothing to send: give the text, or - to read standard input")}
			}
			text := strings.Join(args[1:], " ")
			if len(args) == 2 && args[1] == "-" {
				b, err := io.ReadAll(io.LimitReader(c.InOrStdin(), hush.MaxMemo+1))
				if err != nil {
					return err
				}
				text = strings.TrimRight(string(b), "\n")
			}
			if strings.TrimSpace(text) == "" {
				return usageError{errors.New("nothing to send: the message is empty")}
			}
			cl, err := pf.open(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			_, err = sendText(c.Context(), cl, args[0], text)
			return explainSend(err, args[0])
		},
	}
	c.Flags().BoolVar(&eachLine, "each-line", false, "send every line of standard input as its own message")
	c.Flags().StringVar(&dataFile, "data-file", "", "send the bytes of this file as one data message")
	c.MarkFlagsMutuallyExclusive("data-file", "each-line")
	return c
}

// sendDataFile sends the bytes of path as one data message to args[0], a
// user or "#group".
func sendDataFile(c *cobra.Command, pf *profileFlags, args []string, path string) error {
	if len(args) != 1 {
		return usageError{errors.New("--data-file sends the file alone: give only the recipient")}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(f, hush.MaxData+1))
	f.Close()
	switch {
	case err != nil:
		return err
	case len(data) == 0:
		return usageError{fmt.Errorf("nothing to send: %s is empty", path)}
	case len(data) > hush.MaxData:
		return fmt.Errorf("%s is larger than %d bytes, the most one data message carries: send it with hush send-file", path, hush.MaxData)
	}
	cl, err := pf.open(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	to := args[0]
	if g, ok := strings.CutPrefix(to, "#"); ok {
		_, err = cl.Group(g).SendData(c.Context(), data)
	} else {
		_, err = cl.SendData(c.Context(), to, data)
	}
	return explainSend(err, to)
}

// sendText sends text to a user, or to a group written "#name" (the
// CLI's way to name a group where a user could stand).
func sendText(ctx context.Context, cl *hush.Client, to, text string) (*hush.Message, error) {
	if g, ok := strings.CutPrefix(to, "#"); ok {
		return cl.Group(g).Send(ctx, text)
	}
	return cl.Send(ctx, to, text)
}

func sendLines(c *cobra.Command, pf *profileFlags, to string) error {
	cl, err := pf.open(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	sc := bufio.NewScanner(c.InOrStdin())
	sc.Buffer(make([]byte, 0, 64<<10), hush.MaxText+1)
	n, queued := 0, 0
	var lastQueued error
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue // an empty line separates, it is not a message
		}
		_, err := sendText(c.Context(), cl, to, sc.Text())
		switch {
		case errors.Is(err, hush.ErrQueued):
			// Stored and queued: the rest is queued behind it, in order.
			queued++
			lastQueued = err
		case err != nil:
			return fmt.Errorf("after %d messages: %w", n, explainSend(err, to))
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if queued > 0 {
		return fmt.Errorf("%d of %d messages %w", queued, n, explainSend(lastQueued, to))
	}
	return nil
}

func newHistoryCmd(pf *profileFlags) *cobra.Command {
	var asJSON bool
	var limit int
	c := &cobra.Command{
		Use:   "history <user>",
		Short: "Print the stored conversation with a user",
		Args:  cobra.ExactArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
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
	var qe *hush.QueuedError
	switch {
	case errors.As(err, &qe):
		return fmt.Errorf("%w: %v; hush sends it by itself on the next hush send, sync or listen (hush outbox lists what waits)", hush.ErrQueued, qe.Cause)
	case errors.Is(err, hush.ErrUnknownGroup):
		return fmt.Errorf("unknown group %s (hush group list shows yours)", to)
	case errors.Is(err, hush.ErrUnknownUser):
		return fmt.Errorf("unknown user %s", to)
	case errors.Is(err, hush.ErrIdentityChanged):
		return fmt.Errorf("%s's identity key changed: compare safety numbers (hush verify %s), then accept the new key with hush verify %s --accept", to, to, to)
	case errors.Is(err, hush.ErrTooLarge):
		return fmt.Errorf("message too large: at most %d bytes (longer texts: send them as a file)", hush.MaxMemo)
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
	// Data is a data message's payload, base64 (standard, padded), as
	// encoding/json writes bytes; text is then empty.
	Data []byte `json:"data,omitempty"`
	// State and Error are given for outgoing messages: sending (queued,
	// Error says why), sent, failed (Error says why).
	State string `json:"state,omitempty"`
	Error string `json:"error,omitempty"`
	// Late and Missing are given for incoming messages that arrived out
	// of order, and for those that showed earlier ones missing.
	Late    bool `json:"late,omitempty"`
	Missing int  `json:"missing,omitempty"`
}

type messageFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	Path string `json:"path,omitempty"`
}

// continuation starts the second and later lines of a printed message.
const continuation = "  | "

func printMessage(w io.Writer, m *hush.Message, asJSON bool) {
	file := m.Attachment != nil && !m.Attachment.Memo
	if asJSON {
		jm := jsonMessage{ID: m.ID, From: m.From, Device: m.FromDevice, To: m.To,
			SentAt: m.SentAt.UTC().Format(time.RFC3339Nano), Text: m.Text, Data: m.Data}
		if file {
			jm.File = &messageFile{Name: m.Attachment.Name, Size: m.Attachment.Size, Path: m.Attachment.Path}
		}
		if m.Outgoing {
			jm.State, jm.Error = m.State.String(), m.Error
		}
		jm.Late, jm.Missing = m.Late, m.Missing
		b, _ := json.Marshal(jm)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	// The sender chooses the text and the file name: control characters are
	// shown escaped, and lines after the first are indented so that no
	// line of a message can pass for a message of its own.
	text := textsafe.Indent(m.Text, continuation)
	if file {
		text = fmt.Sprintf("[file %s, %d bytes: hush get %s]", textsafe.Line(m.Attachment.Name), m.Attachment.Size, m.ID)
	}
	if m.Data != nil {
		text = dataMarker(m)
	}
	from := m.From
	if strings.HasPrefix(m.Peer, "#") {
		from = m.Peer + " " + from // a group message: the room, then its sender
	}
	fmt.Fprintf(w, "%s %s: %s%s\n", m.SentAt.Local().Format("2006-01-02 15:04:05"), textsafe.Line(from), text, textsafe.Line(stateMark(m)))
}

// dataMarker is how a terminal shows a data message: its size, never
// its bytes (an application's payload, which may hold anything).
func dataMarker(m *hush.Message) string {
	return fmt.Sprintf("[data, %s bytes]", groupDigits(len(m.Data)))
}

// groupDigits writes n with a comma between groups of three digits.
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func newListenCmd(pf *profileFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "listen",
		Short: "Print incoming messages as they arrive, until interrupted",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			ctx, stop := withSignals(c.Context())
			defer stop()
			// Another receiver running: refuse before showing anything.
			if err := cl.CheckReceive(); err != nil {
				return explain(err)
			}
			if err := printUnshown(c, cl, asJSON); err != nil {
				return explain(err)
			}
			out := bufio.NewWriter(c.OutOrStdout())
			err := cl.Listen(ctx, func(e hush.Event) {
				switch {
				case e.Message != nil:
					printMessage(out, e.Message, asJSON)
					out.Flush()
				case e.Sent != nil && e.Err == nil:
					fmt.Fprintf(c.ErrOrStderr(), "hush: queued message %s to %s is sent\n", shortID(e.Sent.ID), e.Sent.Peer)
				case e.Held != nil:
					fmt.Fprintln(c.ErrOrStderr(), "hush:", textsafe.Line(heldNotice(e.Held)))
				case e.Devices != nil:
					fmt.Fprintln(c.ErrOrStderr(), "hush:", textsafe.Line(e.Devices.String()))
				case e.Group != nil:
					fmt.Fprintln(c.ErrOrStderr(), textsafe.Line(e.Group.String()))
				case e.Err != nil:
					fmt.Fprintln(c.ErrOrStderr(), "hush:", textsafe.Line(e.Err.Error()))
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
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			reportSends(c, cl)
			held := map[string]*hush.Held{} // the last count per sender
			var order []string
			refused := 0
			_, err := cl.SyncEvents(c.Context(), func(e hush.Event) {
				switch {
				case e.Held != nil:
					if held[e.Held.From] == nil {
						order = append(order, e.Held.From)
					}
					held[e.Held.From] = e.Held
				case e.Devices != nil:
					fmt.Fprintln(c.ErrOrStderr(), "hush:", textsafe.Line(e.Devices.String()))
				case e.Group != nil:
					fmt.Fprintln(c.ErrOrStderr(), textsafe.Line(e.Group.String()))
				case errors.Is(e.Err, hush.ErrRefused):
					refused++
					fmt.Fprintln(c.ErrOrStderr(), "hush: refused an envelope:", textsafe.Line(errors.Unwrap(e.Err).Error()))
				case e.Err != nil:
					fmt.Fprintln(c.ErrOrStderr(), "hush:", textsafe.Line(e.Err.Error()))
				}
			})
			if errors.Is(err, hush.ErrProfileBusy) {
				return explain(err) // the running receiver shows what arrives
			}
			// What this sync stored, and what an interrupted sync or a chat
			// screen open on another conversation stored without showing.
			if perr := printUnshown(c, cl, asJSON); perr != nil && err == nil {
				err = perr
			}
			for _, u := range order {
				fmt.Fprintln(c.ErrOrStderr(), "hush:", textsafe.Line(heldNotice(held[u])))
			}
			if refused > 0 && err == nil {
				return exitStatus(1) // each refusal is reported above
			}
			return explain(err)
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
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
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
				fmt.Fprintf(c.OutOrStdout(), "%s\t%s\t%d device(s)\n", textsafe.Line(ct.Username), state, len(ct.Devices))
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
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			cfg := cl.Config()
			for _, k := range []string{"username", "device", "server", "mqtt", "broker", "home"} {
				fmt.Fprintf(c.OutOrStdout(), "%s = %s\n", k, cfg[k])
			}
			return nil
		}),
	}, &cobra.Command{
		Use:   "trust-server-key",
		Short: "Pin the signing key the server now serves (only when its operator confirms the change)",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			fp, err := cl.TrustServerKey(c.Context())
			if err != nil {
				return explain(err)
			}
			fmt.Fprintf(c.OutOrStdout(), "pinned the server key of %s\nfingerprint %s\n", cl.ServerURL(), fp)
			return nil
		}),
	}, &cobra.Command{
		Use:  "set <key> <value>",
		Args: cobra.ExactArgs(2),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			return explain(cl.SetConfig(c.Context(), args[0], args[1]))
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

// printUnshown prints the stored messages no screen has shown yet, oldest
// first, and marks them shown.
func printUnshown(c *cobra.Command, cl *hush.Client, asJSON bool) error {
	ms, err := cl.Unshown(c.Context())
	if err != nil {
		return err
	}
	out := bufio.NewWriter(c.OutOrStdout())
	for i := range ms {
		printMessage(out, &ms[i], asJSON)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	return cl.MarkShown(c.Context(), ms...)
}
