package client

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/client/localstore"
	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/server/rooms"
)

func TestPublicRoomListedAndJoinedWithoutApproval(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	gi, err := alice.CreateGroup(ctx, "lobby", group.Public, []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	rs, err := carol.PublicRooms(ctx)
	if err != nil || len(rs) != 1 || rs[0].ID != gi.ID || rs[0].Name != "lobby" || rs[0].Members != 2 || rs[0].Version != 1 {
		t.Fatalf("PublicRooms = %+v, %v", rs, err)
	}
	joined, err := carol.JoinPublic(ctx, "#lobby")
	if err != nil {
		t.Fatal(err)
	}
	if len(joined.Members) != 3 || joined.Version != 2 {
		t.Fatalf("carol after joining: %+v", joined)
	}
	syncTexts(t, alice) // applies carol's join and relists the room
	syncTexts(t, bob)
	if info, err := bob.GroupInfo(ctx, "lobby"); err != nil || len(info.Members) != 3 || info.StateHash != joined.StateHash {
		t.Fatalf("bob does not see carol: %+v, %v", info, err)
	}
	if rs, err = carol.PublicRooms(ctx); err != nil || len(rs) != 1 || rs[0].Members != 3 || rs[0].Version != 2 {
		t.Fatalf("listing after the join = %+v, %v", rs, err)
	}
	mustSend(t, alice, "#lobby", "hello carol")
	if got := syncTexts(t, carol); !slices.Contains(got, "#lobby:alice:hello carol") {
		t.Fatalf("carol got %q", got)
	}
	mustSend(t, carol, "#lobby", "hi all")
	if got := syncTexts(t, bob); !slices.Contains(got, "#lobby:carol:hi all") {
		t.Fatalf("bob got %q", got)
	}
}

// Security regression: the server refuses a listing signed by someone who
// is not an admin of the room, even with a state naming it an admin.
func TestPublicRoomForgedListingRefused(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "mallory")
	alice, mallory := cs[0], cs[2]
	gi, err := alice.CreateGroup(ctx, "lobby", group.Public, []string{"bob", "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	syncTexts(t, mallory)
	st := mustState(t, mallory, "lobby")
	p := &rooms.Publication{RoomID: gi.ID, Name: "lobby", State: st.Marshal()}
	p.Username, p.Timestamp = "mallory", mallory.now().Unix()
	if err := mallory.api.PublishRoom(ctx, mallory.id, p); !apiclient.IsCode(err, "not_admin") {
		t.Fatalf("a member's listing: err = %v, want not_admin", err)
	}
	// A made-up state of the same room, mallory its only admin, newer.
	self := mallory.selfMember()
	fake, _, err := group.Create(mallory.id, self, "lobby", group.Public, nil)
	if err != nil {
		t.Fatal(err)
	}
	fid := fake.ID()
	p = &rooms.Publication{RoomID: hex.EncodeToString(fid[:]), Name: "lobby", State: fake.Marshal()}
	p.Username, p.Timestamp = "mallory", mallory.now().Unix()
	if err := mallory.api.PublishRoom(ctx, mallory.id, p); err != nil {
		t.Fatalf("mallory's own room: %v", err)
	}
	// Signed by mallory in alice's name: refused.
	p.Username = "alice"
	if err := mallory.api.PublishRoom(ctx, mallory.id, p); !apiclient.IsCode(err, "not_admin") && !apiclient.IsCode(err, "bad_signature") {
		t.Fatalf("listing in alice's name: err = %v", err)
	}
	if _, err := mallory.JoinPublic(ctx, gi.ID); err == nil {
		t.Fatal("joined a room already joined")
	}
	if _, err := alice.JoinPublic(ctx, "0123"); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("joining an unknown room: %v", err)
	}
}

func mustState(t *testing.T, c *Client, name string) *group.State {
	t.Helper()
	var st *group.State
	err := c.withGroup(context.Background(), name, func(_ *localstore.Tx, r *groupRecord) error {
		var err error
		st, err = r.current()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Two people join a public room while its only admin is offline: both sign
// a join for the same version, and one of them loses the race. The loser is
// told when the admin comes back, remakes its join on the winning state, and
// all three end with the same membership and read each other.
func TestPublicRoomConcurrentJoinsConverge(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	if _, err := alice.CreateGroup(ctx, "lobby", group.Public, nil); err != nil {
		t.Fatal(err)
	}
	jb, err := bob.JoinPublic(ctx, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	jc, err := carol.JoinPublic(ctx, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	if jb.Version != 2 || jc.Version != 2 {
		t.Fatalf("joins at versions %d and %d, want both 2", jb.Version, jc.Version)
	}
	// alice comes back; then everyone catches up until nothing moves.
	for range 3 {
		syncTexts(t, alice)
		syncTexts(t, bob)
		syncTexts(t, carol)
	}
	var hash string
	for _, c := range cs {
		gi, err := c.GroupInfo(ctx, "lobby")
		if err != nil {
			t.Fatalf("%s: %v", c.Username(), err)
		}
		if len(gi.Members) != 3 {
			t.Fatalf("%s sees %d members at version %d", c.Username(), len(gi.Members), gi.Version)
		}
		if hash != "" && gi.StateHash != hash {
			t.Fatalf("%s holds another state", c.Username())
		}
		hash = gi.StateHash
	}
	for _, from := range cs {
		mustSend(t, from, "#lobby", "hi from "+from.Username())
		for _, to := range cs {
			if to == from {
				continue
			}
			want := "#lobby:" + from.Username() + ":hi from " + from.Username()
			if got := syncTexts(t, to); !slices.Contains(got, want) {
				t.Fatalf("%s got %q, want %q", to.Username(), got, want)
			}
		}
	}
}
