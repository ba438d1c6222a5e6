package client

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/identity"
)

func member(t *testing.T, gi *GroupInfo, name string) GroupMember {
	t.Helper()
	for _, m := range gi.Members {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("#%s has no member %s", gi.Name, name)
	return GroupMember{}
}

func fingerprintOf(t *testing.T, key []byte) string {
	t.Helper()
	k, err := identity.NewIdentityKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return identity.Fingerprint(k)
}

// Security regression: an admin adds carol with the key the directory
// serves; bob, who pinned another key for carol, is warned when the
// change arrives and sees it in the group's member list.
func TestGroupMemberKeyDiffersFromPinnedWarned(t *testing.T) {
	ctx := context.Background()
	srv := startServerReuse(t)
	dir := t.TempDir()
	mk := func(name string) *Client {
		return create(t, Options{Home: filepath.Join(dir, name), Passphrase: []byte("p"), ServerURL: srv.HTTPURL()}, name)
	}
	alice, bob, carol := mk("alice"), mk("bob"), mk("carol")
	bobPin := mustContact(t, bob, "carol").IdentityKey
	carol2 := newKeyFor(t, carol, srv, filepath.Join(dir, "carol2"))

	if _, err := alice.CreateGroup(ctx, "team", group.Private, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if err := alice.MarkVerified(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	gi, err := alice.AddMember(ctx, "team", "carol")
	if err != nil {
		t.Fatal(err)
	}
	// Alice's view: keys shown, states from her own contacts.
	if m := member(t, gi, "carol"); m.KeyState != KeyUnverified || m.Fingerprint != carol2.Fingerprint() {
		t.Fatalf("alice sees carol as %+v (carol2 %s)", m, carol2.Fingerprint())
	}
	if m := member(t, gi, "bob"); m.KeyState != KeyVerified || m.Fingerprint != bob.Fingerprint() {
		t.Fatalf("alice sees bob as %+v", m)
	}
	if m := member(t, gi, "alice"); m.KeyState != KeySelf || m.Fingerprint != alice.Fingerprint() {
		t.Fatalf("alice sees herself as %+v", m)
	}

	// Bob is warned on receive, and group info says so.
	_, events := syncEvents(t, bob)
	warned := false
	for _, e := range events {
		if errors.Is(e.Err, ErrGroupKeyDiffers) {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("bob was not warned: %+v", events)
	}
	gi, err = bob.GroupInfo(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	m := member(t, gi, "carol")
	if m.KeyState != KeyDiffers || m.Fingerprint != carol2.Fingerprint() || m.Fingerprint == fingerprintOf(t, bobPin) {
		t.Fatalf("bob sees carol as %+v", m)
	}
	if len(gi.Warnings) != 1 || !errors.Is(gi.Warnings[0], ErrGroupKeyDiffers) {
		t.Fatalf("warnings %v", gi.Warnings)
	}
	if m := member(t, gi, "alice"); m.KeyState != KeyUnverified {
		t.Fatalf("bob sees alice as %+v", m)
	}
}
