// Command quickstart is the shortest complete hush program: it starts a
// hush server inside the process (on a temporary directory, loopback, free
// ports), creates two users, and has them exchange end-to-end encrypted
// messages both ways.
//
//	go run ./examples/quickstart
//
// A real application is given the URL of a running server (`hush server`)
// instead, and keeps each user's profile in a directory of its own.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/server"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp("", "hush-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The server: key directory and relay, with its MQTT broker and an
	// SQLite database in dir/server.
	srv, err := server.Start(ctx, server.Config{DataDir: filepath.Join(dir, "server")})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintln(w, "server started")

	// Each user's keys and history live in a profile encrypted under a
	// passphrase (a real program asks the user for it).
	newUser := func(name string) (*hush.Client, error) {
		return hush.Create(ctx, hush.Options{
			Home:       filepath.Join(dir, name),
			Passphrase: []byte("demo passphrase of " + name),
			ServerURL:  srv.URL(),
		}, name, "")
	}
	alice, err := newUser("alice")
	if err != nil {
		return err
	}
	defer alice.Close()
	bob, err := newUser("bob")
	if err != nil {
		return err
	}
	defer bob.Close()
	fmt.Fprintln(w, "alice and bob registered")

	// exchange sends text from one user to the other and prints what the
	// recipient decrypts.
	exchange := func(from, to *hush.Client, text string) error {
		if _, err := from.Send(ctx, to.Username(), text); err != nil {
			return err
		}
		msgs, err := to.Sync(ctx)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			fmt.Fprintf(w, "%s -> %s: %s\n", m.From, m.To, m.Text)
		}
		return nil
	}
	if err := exchange(alice, bob, "Hello Bob, this is end-to-end encrypted."); err != nil {
		return err
	}
	return exchange(bob, alice, "Hi Alice! Only the two of us can read this.")
}
