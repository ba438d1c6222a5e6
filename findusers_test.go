package hush

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hush-chat/hush/internal/identity"
)

// FindUsers reports every user asked about from one lookup: fingerprint,
// devices, whether the key is the pinned one; unknown users are named in
// an error that matches ErrUnknownUser, and the others still come back.
func TestFindUsers(t *testing.T) {
	ctx := context.Background()
	_, alice, bob, carol, _ := sealCast(t)
	got, err := alice.FindUsers(ctx, "bob", "carol", "alice", "bob", "ghost")
	var ue *UnknownUsersError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnknownUser) || len(ue.Users) != 1 || ue.Users[0] != "ghost" {
		t.Fatalf("error %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("%d users", len(got))
	}
	for _, c := range []*Client{bob, carol} {
		u := got[c.Username()]
		if u == nil || u.Fingerprint != identity.Fingerprint(c.id.Public()) || !u.MatchesPinned || !u.NewContact ||
			len(u.Devices) != 1 || u.Devices[0] != c.DeviceID() {
			t.Fatalf("%s: %+v", c.Username(), u)
		}
	}
	if me := got["alice"]; me == nil || !me.MatchesPinned || me.Fingerprint != alice.Fingerprint() {
		t.Fatalf("self: %+v", me)
	}
	// The lookup pinned bob and carol: they are contacts now, and a
	// second lookup says so.
	cs, err := alice.Contacts(ctx)
	if err != nil || len(cs) != 2 {
		t.Fatalf("contacts %v %v", cs, err)
	}
	again, err := alice.FindUsers(ctx, "bob")
	if err != nil || again["bob"].NewContact || !again["bob"].MatchesPinned {
		t.Fatalf("again: %+v %v", again["bob"], err)
	}
}

// More names than the directory takes per request are asked in several
// requests, not refused.
func TestFindUsersBeyondOneRequest(t *testing.T) {
	ctx := context.Background()
	_, alice, _, _, _ := sealCast(t)
	names := []string{"bob"}
	for i := range 1000 {
		names = append(names, fmt.Sprintf("nobody%04d", i))
	}
	got, err := alice.FindUsers(ctx, names...)
	var ue *UnknownUsersError
	if !errors.As(err, &ue) || len(ue.Users) != 1000 || got["bob"] == nil {
		t.Fatalf("%d found, %v", len(got), err)
	}
}
