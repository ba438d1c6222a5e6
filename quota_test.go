package hush

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/server"
)

// A send refused because the sender holds its share of the recipient's
// mailbox (mailbox_share_full) or because its waiting messages fill its
// account's budget (account_storage_full) stays queued with a one-line
// reason, and goes out once the recipients have taken what waits.
func TestShareAndBudgetRefusalsAreRetried(t *testing.T) {
	ctx := context.Background()
	// A share of 2 envelopes per mailbox, a budget of 3 across mailboxes.
	srv := startServerWith(t, func(c *server.Config) { c.MailboxMaxCount, c.AccountMaxCount = 8, 3 })
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	carol := create(t, Options{Home: filepath.Join(dir, "c"), Passphrase: []byte("pc"), ServerURL: srv.HTTPURL()}, "carol")
	for _, text := range []string{"b1", "b2"} {
		if _, err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
	}
	m, err := alice.Send(ctx, "bob", "b3")
	t.Logf("third message to bob: %v", err)
	if !errors.Is(err, ErrQueued) || m.State != StateSending || !strings.Contains(m.Error, "holds as much from you") {
		t.Fatalf("send over the share: %+v %v", m, err)
	}
	if _, err := alice.Send(ctx, "carol", "c1"); err != nil {
		t.Fatal(err)
	}
	m, err = alice.Send(ctx, "carol", "c2")
	t.Logf("fourth waiting message: %v", err)
	if !errors.Is(err, ErrQueued) || m.State != StateSending || !strings.Contains(m.Error, "your account's storage") {
		t.Fatalf("send over the budget: %+v %v", m, err)
	}
	for _, c := range []*Client{bob, carol} {
		if _, err := c.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := alice.RetrySends(ctx)
	if err != nil || len(rep.Delivered) != 2 || len(rep.Waiting) != 0 {
		t.Fatalf("retry: %+v %v", rep, err)
	}
	if got, err := bob.Sync(ctx); err != nil || strings.Join(texts(got), "|") != "b3" {
		t.Fatalf("bob after the retry: %q %v", texts(got), err)
	}
	if got, err := carol.Sync(ctx); err != nil || strings.Join(texts(got), "|") != "c2" {
		t.Fatalf("carol after the retry: %q %v", texts(got), err)
	}
}

// A fan-out costs the sender one send per recipient and a server refuses
// one for more recipients than its burst (too_many_recipients): the
// client splits a group message into parts that fit, and every member
// gets it.
func TestGroupSendSplitsFanoutToFitTheBurst(t *testing.T) {
	ctx := context.Background()
	srv := startServerWith(t, func(c *server.Config) { c.SendRate, c.SendBurst = 1e6, 2 })
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	var members []*Client
	for _, n := range []string{"bob", "carol", "dave"} {
		members = append(members, create(t, Options{Home: filepath.Join(dir, n), Passphrase: []byte("p" + n), ServerURL: srv.HTTPURL()}, n))
	}
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob", "carol", "dave"}); err != nil {
		t.Fatal(err)
	}
	if m, err := alice.Group("team").Send(ctx, "hello team"); err != nil || m.State != StateSent {
		t.Fatalf("group send to 3 devices with a burst of 2: %+v %v", m, err)
	}
	for _, c := range members {
		if got, err := c.Sync(ctx); err != nil || !strings.Contains(strings.Join(texts(got), "|"), "hello team") {
			t.Fatalf("%s: %q %v", c.Username(), texts(got), err)
		}
	}
}
