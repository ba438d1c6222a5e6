package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/server"
)

// A program runs its own hush server and a client registers on it.
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

	alice, err := hush.Create(ctx, hush.Options{Home: filepath.Join(dir, "alice"),
		Passphrase: []byte("correct horse"), ServerURL: srv.URL()}, "alice", "")
	if err != nil {
		panic(err)
	}
	defer alice.Close()

	// The client pinned the server's signing key when it registered.
	fp, err := alice.TrustServerKey(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("registered:", alice.Username())
	fmt.Println("same server key:", fp == srv.Fingerprint())
	// Output:
	// registered: alice
	// same server key: true
}
