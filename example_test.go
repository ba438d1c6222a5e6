package hush_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/hushtest"
)

// Two programs embed the library: each opens a profile, and they talk.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "hush-example-")
	defer os.RemoveAll(dir)

	// A server for the example; a real program is given its URL.
	srv, err := hushtest.Start(ctx)
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
	bob, err := hush.Create(ctx, hush.Options{Home: filepath.Join(dir, "bob"),
		Passphrase: []byte("battery staple"), ServerURL: srv.URL()}, "bob", "")
	if err != nil {
		panic(err)
	}
	defer bob.Close()

	if _, err := alice.Send(ctx, "bob", "attack at dawn"); err != nil {
		panic(err)
	}
	msgs, err := bob.Sync(ctx)
	if err != nil {
		panic(err)
	}
	for _, m := range msgs {
		fmt.Printf("%s -> %s: %s\n", m.From, m.To, m.Text)
	}
	a, _ := alice.SafetyNumber(ctx, "bob")
	b, _ := bob.SafetyNumber(ctx, "alice")
	fmt.Println("same safety number:", a.String() == b.String())
	// Output:
	// alice -> bob: attack at dawn
	// same safety number: true
}
