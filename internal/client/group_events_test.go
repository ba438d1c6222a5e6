package client

import (
	"context"
	"slices"
	"testing"

	"github.com/hush-chat/hush/internal/group"
)

// Issue 8, item 20: join requests and approvals are reported as group
// events, to the admin and to the members.
func TestGroupJoinRequestAndApprovalAreEvents(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "dave")
	alice, bob, dave := cs[0], cs[1], cs[2]
	gi, err := alice.CreateGroup(ctx, "lobby", group.Request, []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	if err := dave.RequestJoin(ctx, gi.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	var evs []Event
	if _, err := alice.SyncEvents(ctx, func(e Event) { evs = append(evs, e) }); err != nil {
		t.Fatal(err)
	}
	want := []string{"group:#lobby: dave asks to join (hush group approve lobby dave)"}
	if got := eventLines(evs); !slices.Equal(got, want) {
		t.Fatalf("alice's events %q, want %q", got, want)
	}
	if evs[0].Group.Kind != GroupJoinRequest || evs[0].Group.Actor != "dave" {
		t.Fatalf("event %+v", evs[0].Group)
	}
	if _, err := alice.ApproveJoin(ctx, "lobby", "dave"); err != nil {
		t.Fatal(err)
	}
	evs = nil
	if _, err := bob.SyncEvents(ctx, func(e Event) { evs = append(evs, e) }); err != nil {
		t.Fatal(err)
	}
	if got := eventLines(evs); !slices.Equal(got, []string{"group:#lobby: alice approved dave"}) {
		t.Fatalf("bob's events %q", got)
	}
	if e := evs[0].Group; e.Kind != GroupApproved || e.Target != "dave" || e.Version != 2 {
		t.Fatalf("event %+v", e)
	}
}
