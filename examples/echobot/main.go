// Command echobot answers every direct message it receives with the same
// text, prefixed "echo: ". It is the skeleton of a hush bot: open (or on
// first run create) a profile, Listen, and Send from the callback.
//
//	HUSH_PASSPHRASE=… go run ./examples/echobot -server http://127.0.0.1:4874 -home ./echobot-profile
//
// The passphrase comes from the environment so it stays out of ps output
// and shell history. The profile directory keeps the bot's keys and
// sessions: give it the same -home on every run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hush-chat/hush"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "echobot:", err)
		os.Exit(1)
	}
}

// run parses args, opens the bot's profile and echoes until ctx is done.
// It writes one line when it listens and one per echo.
func run(ctx context.Context, w io.Writer, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("echobot", flag.ContinueOnError)
	fs.SetOutput(w)
	serverURL := fs.String("server", "http://127.0.0.1:4874", "hush server URL (used when the profile is created)")
	home := fs.String("home", "echobot-profile", "profile directory of the bot")
	name := fs.String("name", "echobot", "username to register on first run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pass := getenv("HUSH_PASSPHRASE")
	if pass == "" {
		return errors.New("set HUSH_PASSPHRASE to the passphrase of the bot's profile")
	}
	o := hush.Options{Home: *home, Passphrase: []byte(pass)}
	bot, err := hush.Open(ctx, o)
	if errors.Is(err, hush.ErrNoProfile) {
		o.ServerURL = *serverURL
		bot, err = hush.Create(ctx, o, *name, "")
	}
	if err != nil {
		return err
	}
	defer bot.Close()
	fmt.Fprintf(w, "%s listening on %s\n", bot.Username(), bot.ServerURL())

	return bot.Listen(ctx, func(e hush.Event) {
		m := e.Message
		if e.Err != nil {
			fmt.Fprintln(w, "warning:", e.Err)
		}
		// Group messages are left alone: two bots in one group would
		// answer each other forever.
		if m == nil || m.Outgoing || m.Group != "" {
			return
		}
		if _, err := bot.Send(ctx, m.From, "echo: "+m.Text); err != nil {
			fmt.Fprintf(w, "answer to %s failed: %v\n", m.From, err)
			return
		}
		fmt.Fprintf(w, "echoed %s: %s\n", m.From, m.Text)
	})
}
