package hush

import (
	"context"
	"slices"
	"testing"
)

// Issue 8, item 20: join requests and approvals are reported as group
// events, to the admin and to the members.
func TestGroupJoinRequestAndApprovalAreEvents(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "dave")
	alice, bob, dave := cs[0], cs[1], cs[2]
	gi, err := alice.CreateGroup(ctx, "lobby", GroupRequest, []string{"bob"})
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

// Issue 8, item 13: a member that missed a change and hears nothing more
// from the group catches up on demand, whether it asks (ResyncGroup as a
// member) or an admin re-announces (ResyncGroup as an admin). A removed
// member that is sent the changes again stays out.
func TestGroupResyncOnDemand(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol", "dave")
	alice, bob, carol, dave := cs[0], cs[1], cs[2], cs[3]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	syncTexts(t, carol)
	if _, err := alice.RemoveMember(ctx, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, carol)
	if _, err := alice.AddMember(ctx, "team", "dave"); err != nil {
		t.Fatal(err)
	}
	lose(t, bob) // bob misses both changes
	if gi, err := bob.ResyncGroup(ctx, "team"); err != nil || gi.Version != 1 {
		t.Fatalf("bob's resync: %+v %v", gi, err)
	}
	syncTexts(t, alice)
	syncTexts(t, bob)
	if b, _ := bob.GroupInfo(ctx, "team"); b == nil || b.Version != 3 {
		t.Fatalf("bob after asking: %+v", b)
	}

	if _, err := alice.PromoteMember(ctx, "team", "dave"); err != nil {
		t.Fatal(err)
	}
	lose(t, bob)
	if _, err := alice.ResyncGroup(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	syncTexts(t, dave)
	a, _ := alice.GroupInfo(ctx, "team")
	b, _ := bob.GroupInfo(ctx, "team")
	d, _ := dave.GroupInfo(ctx, "team")
	if a == nil || b == nil || d == nil || b.StateHash != a.StateHash || d.StateHash != a.StateHash {
		t.Fatalf("after the admin's resync:\nalice %+v\nbob %+v\ndave %+v", a, b, d)
	}
	var evs []Event
	if _, err := carol.SyncEvents(ctx, func(e Event) { evs = append(evs, e) }); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Fatalf("removed carol, sent the changes again: %q", eventLines(evs))
	}
	if gs, _ := carol.Groups(ctx); len(gs) != 0 {
		t.Fatalf("carol lists %+v", gs)
	}
}
