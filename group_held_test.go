package hush

import (
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/group"
)

// lose acknowledges everything pending for c without reading it: what a
// member misses when a relay loses its envelopes.
func lose(t *testing.T, c *Client) {
	t.Helper()
	ctx := context.Background()
	tr, err := c.transport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.drain(ctx, func([]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// eventLines describes events as "msg:text", "group:line" or "err:…".
func eventLines(evs []Event) []string {
	var out []string
	for _, e := range evs {
		switch {
		case e.Message != nil:
			out = append(out, "msg:"+e.Message.Text)
		case e.Group != nil:
			out = append(out, "group:"+e.Group.String())
		case errors.Is(e.Err, ErrGroupHeld):
			out = append(out, "held")
		case e.Err != nil:
			out = append(out, "err:"+e.Err.Error())
		}
	}
	return out
}

// Regression (issue 8, item 3): a sender key and group messages that
// reached a member before the group's creation were dropped and
// acknowledged, and the member then read nothing from that sender. They
// are held, and applied in order once the creation arrives; nothing is
// shown twice when the relay delivers them again.
func TestGroupMaterialBeforeCreationIsHeldThenApplied(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, carol := cs[0], cs[2]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "#team", "one")
	mustSend(t, alice, "#team", "two")
	envs := pending(t, carol)
	if len(envs) != 4 {
		t.Fatalf("carol has %d envelopes, want the creation, alice's key and two messages", len(envs))
	}
	// The messages first, then the key, then the creation.
	var evs []Event
	for _, env := range [][]byte{envs[2], envs[3], envs[1], envs[0]} {
		if err := carol.process(ctx, env, nil, func(e Event) { evs = append(evs, e) }); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"held", "held", "held", "group:#team: alice created the group", "msg:one", "msg:two"}
	if got := eventLines(evs); !slices.Equal(got, want) {
		t.Fatalf("carol's events:\n%q\nwant\n%q", got, want)
	}
	if got := syncTexts(t, carol); len(got) != 0 {
		t.Fatalf("the redelivered envelopes showed again: %q", got)
	}
	h, err := carol.History(ctx, "#team", 0)
	if err != nil || strings.Join(texts(h), "|") != "one|two" {
		t.Fatalf("carol's history %q %v", texts(h), err)
	}
	mustSend(t, alice, "#team", "three")
	if got := syncTexts(t, carol); !slices.Equal(got, []string{"#team:alice:three"}) {
		t.Fatalf("carol after: %q", got)
	}
}

// Regression (issue 8, item 3): a change for a later version than the
// member holds (it missed one) was dropped, and the member stayed behind
// for good. It is held, the member asks the sender for the changes in
// between, and applies both once the answer comes.
func TestGroupMemberThatMissedAChangeCatchesUp(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, bob := cs[0], cs[1]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	if _, err := alice.AddMember(ctx, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	lose(t, bob) // bob never gets version 2
	if _, err := alice.PromoteMember(ctx, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	var evs []Event
	if _, err := bob.SyncEvents(ctx, func(e Event) { evs = append(evs, e) }); err != nil {
		t.Fatal(err)
	}
	if got := eventLines(evs); !slices.Equal(got, []string{"held"}) {
		t.Fatalf("bob's events on version 3: %q", got)
	}
	syncTexts(t, alice) // alice answers bob's request
	evs = nil
	if _, err := bob.SyncEvents(ctx, func(e Event) { evs = append(evs, e) }); err != nil {
		t.Fatal(err)
	}
	want := []string{"group:#team: alice added carol", "group:#team: alice made carol an admin"}
	if got := eventLines(evs); !slices.Equal(got, want) {
		t.Fatalf("bob's events:\n%q\nwant\n%q", got, want)
	}
	a, _ := alice.GroupInfo(ctx, "team")
	b, _ := bob.GroupInfo(ctx, "team")
	if a == nil || b == nil || b.Version != 3 || a.StateHash != b.StateHash {
		t.Fatalf("bob did not catch up:\nalice %+v\nbob %+v", a, b)
	}
}

// Regression (issue 8, item 13): a member that missed a removal kept
// sending the group's messages to the removed member. A sender key made
// for a later version shows it is behind; it asks for the changes, and
// once it applies the removal its messages no longer reach her.
func TestGroupMemberThatMissedARemovalStopsSendingToTheRemoved(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	mustSend(t, bob, "#team", "hi")
	syncTexts(t, carol)
	syncTexts(t, alice)
	if _, err := alice.RemoveMember(ctx, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	lose(t, bob) // bob never gets the removal
	syncTexts(t, carol)
	mustSend(t, alice, "#team", "after carol")
	if got := syncTexts(t, bob); !slices.Equal(got, []string{"#team:alice:after carol"}) {
		t.Fatalf("bob got %q", got)
	}
	syncTexts(t, alice) // alice answers bob's request
	syncTexts(t, bob)
	if b, _ := bob.GroupInfo(ctx, "team"); b == nil || b.Version != 2 || len(b.Members) != 2 {
		t.Fatalf("bob did not catch up: %+v", b)
	}
	mustSend(t, bob, "#team", "bob after carol")
	if envs := pending(t, carol); len(envs) != 0 {
		t.Fatalf("removed carol was sent %d envelopes", len(envs))
	}
	if got := syncTexts(t, alice); !slices.Equal(got, []string{"#team:bob:bob after carol"}) {
		t.Fatalf("alice got %q", got)
	}
}

// Issue 8, item 13: a change made while the server is down is kept in the
// admin's outbox; after the admin's process ends and a new one opens the
// profile, the change reaches the member.
func TestGroupChangeQueuedWhileServerDownArrivesAfterRestart(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	g := newGate(t, srv.HTTPURL())
	dir := t.TempDir()
	ao := Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: g.URL}
	alice := create(t, ao, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	g.down.Store(true)
	gi, err := alice.PromoteMember(ctx, "team", "bob")
	if gi == nil || gi.Version != 2 || !errors.Is(err, ErrQueued) || !errors.Is(err, ErrServerUnreachable) {
		t.Fatalf("promote with the server down: %+v %v", gi, err)
	}
	alice.Close()
	g.down.Store(false)
	alice, err = Open(ctx, Options{Home: ao.Home, Passphrase: ao.Passphrase})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if _, err := alice.RetrySends(ctx); err != nil {
		t.Fatal(err)
	}
	var evs []Event
	if _, err := bob.SyncEvents(ctx, func(e Event) { evs = append(evs, e) }); err != nil {
		t.Fatal(err)
	}
	if got := eventLines(evs); !slices.Equal(got, []string{"group:#team: alice made bob an admin"}) {
		t.Fatalf("bob's events: %q", got)
	}
	if b, _ := bob.GroupInfo(ctx, "team"); b == nil || b.Version != 2 || !b.Admin {
		t.Fatalf("bob: %+v", b)
	}
}

// Held group material is bounded: beyond the bound an item is dropped and
// reported, never silently.
func TestHeldGroupMaterialIsBounded(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob")
	alice, bob := cs[0], cs[1]
	bob.limits.groupHeld = 2
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "b", "c"} {
		mustSend(t, alice, "#team", s)
	}
	envs := pending(t, bob)
	var errs []error
	for _, env := range envs[2:] { // the three messages, before the creation and the key
		_, err := bob.handle(ctx, env, nil)
		errs = append(errs, err)
	}
	var dr *dropped
	if !errors.Is(errs[0], ErrGroupHeld) || !errors.Is(errs[1], ErrGroupHeld) || !errors.As(errs[2], &dr) {
		t.Fatalf("errors %v", errs)
	}
}

// Known-answer vector of the resend request (doc/SPEC.md §11.2).
func TestResendRequestVector(t *testing.T) {
	var id group.ID
	for i := range id {
		id[i] = byte(i)
	}
	got := hex.EncodeToString(encodeResendRequest(id, 3))
	const want = "0106" + "01" + "000102030405060708090a0b0c0d0e0f" + "0000000000000003"
	if got != want {
		t.Fatalf("resend request %s, want %s", got, want)
	}
	b, _ := hex.DecodeString(want[4:])
	if gid, since, err := decodeResendRequest(b); err != nil || gid != id || since != 3 {
		t.Fatalf("decode: %x %d %v", gid, since, err)
	}
	for _, bad := range []string{want[4:] + "00", want[4 : len(want)-2], "02" + want[6:]} {
		b, _ := hex.DecodeString(bad)
		if _, _, err := decodeResendRequest(b); err == nil {
			t.Fatalf("accepted %s", bad)
		}
	}
}
