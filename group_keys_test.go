package hush

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
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

	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
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

// Security regression: mallory, a member, learns bob's sender key id and
// hands it to carol (just added) under her own name before bob's own
// distribution arrives. Carol still takes bob's chain, reads bob's message
// as bob's, and is told that two members claimed the key id.
func TestSecurityRegressionSenderKeyIDClaimedFirst(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol", "mallory")
	alice, bob, carol, mallory := cs[0], cs[1], cs[2], cs[3]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob", "mallory"}); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	syncTexts(t, mallory)
	mustSend(t, bob, "#team", "one")
	syncTexts(t, mallory)
	// mallory received bob's chain with "one"; the key id is also in
	// every message header. Taken here from bob's own record.
	var bobs *group.Distribution
	_ = bob.withGroup(ctx, "team", func(_ *localstore.Tx, r *groupRecord) error {
		s, err := r.parseSender()
		if err == nil && s != nil {
			bobs = s.Distribution()
		}
		return err
	})
	if bobs == nil {
		t.Fatal("bob has no sender key")
	}
	if _, err := alice.AddMember(ctx, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, carol)
	syncTexts(t, mallory)
	fake := *bobs
	fake.ChainKey = [32]byte{0x66}
	if err := mallory.sendControl(ctx, "carol", encodeGroupKey(&fake), "copied key id"); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, carol)
	syncTexts(t, bob)
	mustSend(t, bob, "#team", "two")
	var errs []error
	got, err := carol.SyncEvents(ctx, func(e Event) {
		if e.Err != nil {
			errs = append(errs, e.Err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range got {
		texts = append(texts, m.Peer+":"+m.From+":"+m.Text)
	}
	if !slices.Contains(texts, "#team:bob:two") {
		t.Fatalf("security regression: carol got %q (events %v)", texts, errs)
	}
	if !slices.ContainsFunc(errs, func(e error) bool { return errors.Is(e, group.ErrSharedKeyID) }) {
		t.Fatalf("the key id claimed twice was not reported: %v", errs)
	}
}
