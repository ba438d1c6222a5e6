package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/server"
)

func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run a server and two users in process and show what each side sees",
		Long: `Start an in-process hush server (temporary SQLite database, embedded MQTT broker),
create two users, exchange messages, and print side by side what each user reads and what
the relay stored: ciphertext only, with no text and no sender inside (the relay keeps
only which account uploaded it, until it is delivered). Everything is deleted at the end.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runDemo(c.Context(), c.OutOrStdout()) },
	}
}

func runDemo(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "hush-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := server.StartLocal(ctx, filepath.Join(dir, "server"))
	if err != nil {
		return err
	}
	defer srv.Shutdown(context.Background())
	fmt.Fprintf(out, "hush demo: server at %s (MQTT %s), key fingerprint %s\n\n", srv.HTTPURL(), srv.MQTTURL(), srv.Fingerprint())

	users := map[string]*hush.Client{}
	for _, name := range []string{"alice", "bob"} {
		cl, err := hush.Create(ctx, hush.Options{Home: filepath.Join(dir, name), Passphrase: []byte("demo passphrase"),
			ServerURL: srv.HTTPURL()}, name, "")
		if err != nil {
			return fmt.Errorf("creating %s: %w", name, err)
		}
		defer cl.Close()
		users[name] = cl
		fmt.Fprintf(out, "%-5s registered, identity fingerprint %s\n", name, cl.Fingerprint())
	}
	conversation := []struct{ from, to, text string }{
		{"alice", "bob", "Attack at dawn."},
		{"bob", "alice", "Confirmed. North gate?"},
		{"alice", "bob", "North gate, 6:00. Bring coffee."},
	}
	for _, m := range conversation {
		fmt.Fprintf(out, "\n%s sends to %s: %q\n", m.from, m.to, m.text)
		if _, err := users[m.from].Send(ctx, m.to, m.text); err != nil {
			return fmt.Errorf("%s sending: %w", m.from, err)
		}
		if err := showStored(ctx, out, srv, users[m.to]); err != nil {
			return err
		}
		got, err := users[m.to].Sync(ctx)
		if err != nil {
			return fmt.Errorf("%s receiving: %w", m.to, err)
		}
		for _, g := range got {
			fmt.Fprintf(out, "  %-5s reads  %s: %s\n", m.to, g.From, g.Text)
		}
	}
	sn, err := users["alice"].SafetyNumber(ctx, "bob")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nsafety number alice <-> bob (both compute the same):\n  %s\n", sn)
	fmt.Fprintln(out, "\nThe relay stored and forwarded only the ciphertext shown; the keys never left the two users.")
	return nil
}

// showStored prints what the relay holds for the recipient's mailbox.
func showStored(ctx context.Context, out io.Writer, srv *server.Server, to *hush.Client) error {
	mailbox := mailboxOf(to)
	envs, err := srv.Store().PendingEnvelopes(ctx, mailbox, 0, 10)
	if err != nil {
		return err
	}
	for _, e := range envs {
		n := min(len(e.Data), 24)
		fmt.Fprintf(out, "  relay  stored for mailbox %s…: %d bytes  %s…\n", mailbox[:12], len(e.Data), hex.EncodeToString(e.Data[:n]))
	}
	return nil
}

func mailboxOf(c *hush.Client) string {
	return c.Mailbox()
}
