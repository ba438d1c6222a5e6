package hush

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A second device linked by code: it becomes device 2 of the same
// identity, receives what is sent to the account, sends as the account,
// and contacts see a device added, not a key change. Removed, it gets
// nothing new.
func TestLinkDevice(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	if _, err := alice.Send(ctx, "bob", "hello from the laptop"); err != nil {
		t.Fatal(err)
	}
	if err := alice.MarkVerified(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	link, err := StartLink(ctx, Options{Home: filepath.Join(dir, "a2"), Passphrase: []byte("pa2"), ServerURL: srv.HTTPURL()})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		c   *Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := link.Wait(ctx)
		done <- result{c, err}
	}()
	if _, err := alice.InspectLink(ctx, link.Code()[:len(link.Code())-2]+"AA"); err == nil {
		t.Fatal("a mistyped code was accepted")
	}
	req, err := alice.InspectLink(ctx, link.Code())
	if err != nil {
		t.Fatal(err)
	}
	if req.Fingerprint != link.Fingerprint() {
		t.Fatalf("fingerprints differ: %s / %s", req.Fingerprint, link.Fingerprint())
	}
	id, err := alice.ApproveLink(ctx, req)
	if err != nil || id != 2 {
		t.Fatalf("ApproveLink = %d, %v", id, err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	phone := r.c
	t.Cleanup(func() { phone.Close() })
	if phone.Username() != "alice" || phone.DeviceID() != 2 || phone.Fingerprint() != alice.Fingerprint() {
		t.Fatalf("linked as %s device %d (%s)", phone.Username(), phone.DeviceID(), phone.Fingerprint())
	}
	// The code works once.
	if _, err := alice.ApproveLink(ctx, req); !errors.Is(err, ErrLinkExpired) {
		t.Fatalf("second approval: %v", err)
	}
	// The contacts came along, verification included.
	cs, err := phone.Contacts(ctx)
	if err != nil || len(cs) != 1 || cs[0].Username != "bob" || !cs[0].Verified {
		t.Fatalf("phone's contacts %+v, %v", cs, err)
	}
	devs, err := alice.Devices(ctx)
	if err != nil || len(devs) != 2 || !devs[0].This || devs[1].ID != 2 || !devs[1].Listed {
		t.Fatalf("devices %+v, %v", devs, err)
	}

	if _, err := bob.Send(ctx, "alice", "to every device"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{alice, phone} {
		got, err := c.Sync(ctx)
		if err != nil || !slices.Contains(texts(got), "to every device") {
			t.Fatalf("device %d got %q, %v", c.DeviceID(), texts(got), err)
		}
	}
	if _, err := phone.Send(ctx, "bob", "from the phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Sync(ctx); err != nil { // the phone's transcript
		t.Fatal(err)
	}
	var changes []DeviceChange
	var identity int
	got, err := bob.SyncEvents(ctx, func(e Event) {
		switch e.Kind {
		case EventDevicesChanged:
			changes = append(changes, *e.Devices)
		case EventIdentityChanged:
			identity++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Text != "from the phone" || got[0].FromDevice != 2 || identity != 0 {
		t.Fatalf("bob got %+v (identity events %d)", got, identity)
	}
	if len(changes) != 1 || !slices.Equal(changes[0].Added, []uint32{2}) {
		t.Fatalf("bob was told %+v", changes)
	}
	if c, _ := bob.Contact(ctx, "alice"); c.Changed {
		t.Fatal("a linked device looks like an identity change")
	}

	// Removed, the phone gets nothing new.
	if err := alice.RemoveDevice(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Send(ctx, "alice", "after the removal"); err != nil {
		t.Fatal(err)
	}
	got, err = alice.Sync(ctx)
	if err != nil || !slices.Contains(texts(got), "after the removal") {
		t.Fatalf("laptop got %q, %v", texts(got), err)
	}
	if got, _ := phone.Sync(ctx); slices.Contains(texts(got), "after the removal") {
		t.Fatal("the removed device read a message sent after its removal")
	}
	if err := alice.RemoveDevice(ctx, 1); err == nil {
		t.Fatal("removed the account's last device")
	}
}

// What one device of an account sends shows in the history of the others
// (sent transcripts), under the same message id; a transcript from another
// account is refused.
func TestSentTranscripts(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	phone := linkDevice(t, alice, filepath.Join(dir, "a2"))

	sent, err := alice.Send(ctx, "bob", "from the laptop")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phone.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := phone.History(ctx, "bob", 0)
	if err != nil || len(h) != 1 || h[0].Text != "from the laptop" || !h[0].Outgoing || h[0].ID != sent.ID || h[0].FromDevice != 1 {
		t.Fatalf("phone's history %+v, %v", h, err)
	}
	if _, err := phone.Send(ctx, "bob", "from the phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	h, err = alice.History(ctx, "bob", 0)
	if err != nil || len(h) != 2 || h[1].Text != "from the phone" || !h[1].Outgoing {
		t.Fatalf("laptop's history %+v, %v", h, err)
	}
	got, err := bob.Sync(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("bob got %q, %v", texts(got), err)
	}
	// The own account is not listed among the contacts.
	cs, err := alice.Contacts(ctx)
	if err != nil || len(cs) != 1 || cs[0].Username != "bob" {
		t.Fatalf("contacts %+v, %v", cs, err)
	}
}
