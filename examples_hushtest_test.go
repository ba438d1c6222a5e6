package hush_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/hushtest"
)

// users starts a throwaway server and registers one client per name.
func users(ctx context.Context, names ...string) (*hushtest.Server, []*hush.Client) {
	srv, err := hushtest.Start(ctx)
	if err != nil {
		panic(err)
	}
	var cs []*hush.Client
	for _, n := range names {
		c, err := srv.Client(ctx, n)
		if err != nil {
			panic(err)
		}
		cs = append(cs, c)
	}
	return srv, cs
}

// A conversation both ways: each side sends, the other fetches what is
// waiting for it with Sync.
func ExampleClient_Send() {
	ctx := context.Background()
	srv, cs := users(ctx, "alice", "bob")
	defer srv.Close() // closes the clients too
	alice, bob := cs[0], cs[1]

	if _, err := alice.Send(ctx, "bob", "lunch at noon?"); err != nil {
		panic(err)
	}
	msgs, _ := bob.Sync(ctx)
	fmt.Printf("bob got %q from %s\n", msgs[0].Text, msgs[0].From)

	if _, err := bob.Send(ctx, "alice", "yes, see you there"); err != nil {
		panic(err)
	}
	msgs, _ = alice.Sync(ctx)
	fmt.Printf("alice got %q from %s\n", msgs[0].Text, msgs[0].From)

	hist, _ := alice.History(ctx, "bob", 10)
	for _, m := range hist {
		fmt.Printf("%s: %s (%s)\n", m.From, m.Text, m.State)
	}
	// Output:
	// bob got "lunch at noon?" from alice
	// alice got "yes, see you there" from bob
	// alice: lunch at noon? (sent)
	// bob: yes, see you there (received)
}

// A group has a handle: one Send reaches every member, each through its
// own encrypted copy of the group's sender key.
func ExampleClient_CreateGroup() {
	ctx := context.Background()
	srv, cs := users(ctx, "alice", "bob", "carol")
	defer srv.Close()
	alice, bob, carol := cs[0], cs[1], cs[2]

	if _, err := alice.CreateGroup(ctx, "team", hush.GroupPrivate, []string{"bob", "carol"}); err != nil {
		panic(err)
	}
	if _, err := alice.Group("team").Send(ctx, "standup in five"); err != nil {
		panic(err)
	}
	for _, c := range []*hush.Client{bob, carol} {
		msgs, err := c.Sync(ctx)
		if err != nil {
			panic(err)
		}
		for _, m := range msgs {
			fmt.Printf("%s sees %s in %s: %s\n", c.Username(), m.From, m.Group, m.Text)
		}
	}
	// Output:
	// bob sees alice in team: standup in five
	// carol sees alice in team: standup in five
}

// A file travels encrypted in chunks; the message carries its name and
// size, and Download fetches, decrypts and verifies it.
func ExampleClient_SendFile() {
	ctx := context.Background()
	srv, cs := users(ctx, "alice", "bob")
	defer srv.Close()
	alice, bob := cs[0], cs[1]

	dir, _ := os.MkdirTemp("", "hush-example-file-")
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(src, []byte("the plan, in full\n"), 0o600); err != nil {
		panic(err)
	}
	if _, err := alice.SendFile(ctx, "bob", src, nil); err != nil {
		panic(err)
	}

	msgs, _ := bob.Sync(ctx)
	a := msgs[0].Attachment
	fmt.Printf("bob got %s (%d bytes) from %s\n", a.Name, a.Size, msgs[0].From)
	got := filepath.Join(dir, "bob")
	if err := os.Mkdir(got, 0o700); err != nil {
		panic(err)
	}
	path, err := bob.Download(ctx, msgs[0].ID, got, nil)
	if err != nil {
		panic(err)
	}
	b, _ := os.ReadFile(path)
	fmt.Printf("%s: %s", filepath.Base(path), b)
	// Output:
	// bob got notes.txt (18 bytes) from alice
	// notes.txt: the plan, in full
}

// Listen receives live: fn is called for each message as it arrives,
// until ctx is done. Here alice sends each next message only once bob has
// heard the previous one.
func ExampleClient_Listen() {
	ctx := context.Background()
	srv, cs := users(ctx, "alice", "bob")
	defer srv.Close()
	alice, bob := cs[0], cs[1]

	texts := []string{"one", "two", "three"}
	if _, err := alice.Send(ctx, "bob", texts[0]); err != nil {
		panic(err)
	}
	lctx, stop := context.WithCancel(ctx)
	n := 0
	err := bob.Listen(lctx, func(e hush.Event) {
		if e.Message == nil {
			return // e.Err, e.Sent, e.Held, e.Group: not in this example
		}
		fmt.Printf("%s: %s\n", e.Message.From, e.Message.Text)
		if n++; n == len(texts) {
			stop()
			return
		}
		if _, err := alice.Send(ctx, "bob", texts[n]); err != nil {
			panic(err)
		}
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// alice: one
	// alice: two
	// alice: three
}

// Data sealed for users can be kept anywhere (a database row, an object
// store) and opened later by any device of the users it names, or of the
// sender, with the sender verified; nobody else can open it.
func ExampleClient_Seal() {
	ctx := context.Background()
	srv, cs := users(ctx, "alice", "bob", "mallory")
	defer srv.Close()
	alice, bob, mallory := cs[0], cs[1], cs[2]

	blob, err := alice.Seal(ctx, []byte("salary: 4,200"), "bob")
	if err != nil {
		panic(err)
	}
	data, from, err := bob.Unseal(ctx, blob)
	if err != nil {
		panic(err)
	}
	fmt.Printf("bob opens %q from %s\n", data, from)
	if _, _, err := mallory.Unseal(ctx, blob); errors.Is(err, hush.ErrNotRecipient) {
		fmt.Println("mallory cannot open it")
	}
	// Output:
	// bob opens "salary: 4,200" from alice
	// mallory cannot open it
}

// An application sends its own payloads as data messages: hush carries the
// bytes end to end and never interprets them.
func ExampleClient_SendData() {
	ctx := context.Background()
	srv, cs := users(ctx, "sensor", "hub")
	defer srv.Close()
	sensor, hub := cs[0], cs[1]

	reading := []byte{0x01, 0x00, 0xd2, 0x04} // the application's own encoding
	if _, err := sensor.SendData(ctx, "hub", reading); err != nil {
		panic(err)
	}
	msgs, _ := hub.Sync(ctx)
	for _, m := range msgs {
		if m.Data != nil {
			fmt.Printf("%d bytes from %s: % x\n", len(m.Data), m.From, m.Data)
		}
	}
	// Output:
	// 4 bytes from sensor: 01 00 d2 04
}
