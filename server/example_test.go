package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/server"
)

// A program runs its own hush server; two clients talk through it.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hush-server-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	// Loopback, ports the system picks, SQLite in the data directory.
	srv, err := server.Start(ctx, server.Config{DataDir: filepath.Join(dir, "server")})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	open := func(name string) *hush.Client {
		c, err := hush.Create(ctx, hush.Options{Home: filepath.Join(dir, name),
			Passphrase: []byte("passphrase of " + name), ServerURL: srv.URL()}, name, "")
		if err != nil {
			panic(err)
		}
		return c
	}
	alice, bob := open("alice"), open("bob")
	defer alice.Close()
	defer bob.Close()

	if _, err := alice.Send(ctx, "bob", "hello from an embedded server"); err != nil {
		panic(err)
	}
	msgs, err := bob.Sync(ctx)
	if err != nil {
		panic(err)
	}
	for _, m := range msgs {
		fmt.Printf("%s: %s\n", m.From, m.Text)
	}
	// Output:
	// alice: hello from an embedded server
}
