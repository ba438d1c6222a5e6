package hush

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/proto"
)

func TestPublicRoomListedAndJoinedWithoutApproval(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	gi, err := alice.CreateGroup(ctx, "lobby", GroupPublic, []string{"bob"})
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
	gi, err := alice.CreateGroup(ctx, "lobby", GroupPublic, []string{"bob", "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	syncTexts(t, mallory)
	st := mustState(t, mallory, "lobby")
	p := &proto.Publication{RoomID: gi.ID, Name: "lobby", State: st.Marshal()}
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
	p = &proto.Publication{RoomID: hex.EncodeToString(fid[:]), Name: "lobby", State: fake.Marshal()}
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
	if _, err := alice.CreateGroup(ctx, "lobby", GroupPublic, nil); err != nil {
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
		syncRefusing(t, alice, "sender key from a device that is not a member") // the loser's key, sent before its join was remade
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

// staleRooms serves every request from the real server except a public
// room's listing, for which it serves a listing captured earlier (a
// server replaying an old, validly signed listing).
func staleRooms(t *testing.T, real string, id string, listing *proto.SignedRequest) string {
	t.Helper()
	u, err := url.Parse(real)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	body, err := json.Marshal(listing)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/rooms/"+id {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Security regression: mallory joins a public room. On the room's old
// listing (from before her join) she signs another join, ground to beat her
// first one, and sends it to bob only; then alice removes her. bob must end
// where alice is, mallory out, and never hand her the key he sends under;
// and her own client refuses to join on the replayed old listing.
func TestSecurityRegressionStaleListingCannotReaddRemovedMember(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	var cs []*Client
	for _, n := range []string{"alice", "bob", "mallory"} {
		cs = append(cs, create(t, Options{Home: filepath.Join(dir, n), Passphrase: []byte("p-" + n), ServerURL: srv.HTTPURL()}, n))
	}
	alice, bob, mallory := cs[0], cs[1], cs[2]
	gi, err := alice.CreateGroup(ctx, "lobby", GroupPublic, []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	old, err := mallory.api.PublicRoom(ctx, gi.ID) // signed by alice at version 1
	if err != nil {
		t.Fatal(err)
	}
	stale, err := mallory.verifiedListing(ctx, gi.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mallory.JoinPublic(ctx, gi.ID); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, alice)
	syncTexts(t, bob)

	// A modified client signs a second join on the old listing, ground to
	// beat her first join, and sends it to bob alone.
	var firstJoin *group.Change
	_ = bob.withGroup(ctx, "lobby", func(_ *localstore.Tx, r *groupRecord) error {
		l, err := r.log()
		if err == nil && len(l.Since(2)) == 1 {
			firstJoin = l.Since(2)[0]
		}
		return err
	})
	if firstJoin == nil || firstJoin.Kind != group.KindJoin {
		t.Fatal("bob did not apply mallory's join")
	}
	fh := firstJoin.Hash()
	var again *group.Change
	for d := uint32(1); again == nil; d++ {
		m := mallory.selfMember()
		m.Devices = []uint32{mallory.dev.ID(), mallory.dev.ID() + d}
		ch, _, err := group.Propose(stale, "mallory", mallory.id, group.Op{Kind: group.KindJoin, Member: m})
		if err != nil {
			t.Fatal(err)
		}
		if h := ch.Hash(); bytes.Compare(h[:], fh[:]) < 0 {
			again = ch
		}
	}
	if err := mallory.sendControl(ctx, "bob", encodeGroupChange(nil, again), "stale join"); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)

	// alice, who never saw the second join, removes mallory.
	if _, err := alice.RemoveMember(ctx, "lobby", "mallory"); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	syncRefusing(t, mallory, "a join for mallory sent by bob")
	ai, err1 := alice.GroupInfo(ctx, "lobby")
	bi, err2 := bob.GroupInfo(ctx, "lobby")
	if err1 != nil || err2 != nil || slices.ContainsFunc(bi.Members, func(m GroupMember) bool { return m.Name == "mallory" }) ||
		bi.StateHash != ai.StateHash {
		t.Fatalf("security regression: bob holds %+v, alice %+v (%v, %v)", bi, ai, err1, err2)
	}

	// Her own client refuses the replayed listing.
	mallory.api = apiclient.New(staleRooms(t, srv.HTTPURL(), gi.ID, old), nil)
	if _, err := mallory.JoinPublic(ctx, gi.ID); !errors.Is(err, ErrBadListing) {
		t.Fatalf("joining on a listing older than the removal: %v", err)
	}
	mallory.api = apiclient.New(srv.HTTPURL(), nil)

	mustSend(t, bob, "#lobby", "after the removal")
	if got := syncTexts(t, mallory); slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "after the removal") }) {
		t.Fatalf("security regression: a removed member read %q", got)
	}
	if got := syncTexts(t, alice); !slices.Contains(got, "#lobby:bob:after the removal") {
		t.Fatalf("alice got %q", got)
	}
}

// Security regression: a join names its own signer and key. mallory signs
// one as "bob" (a free name in the room) under her own key, and one as
// herself under a key that is not hers in the directory, and sends them to
// the members over her own sessions: both are refused.
func TestSecurityRegressionJoinUnderAnotherNameOrKey(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "carol", "mallory", "bob")
	alice, carol, mallory := cs[0], cs[1], cs[2]
	if _, err := alice.CreateGroup(ctx, "lobby", GroupPublic, []string{"carol"}); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, carol)
	listed := mustState(t, alice, "lobby")
	asBob := mallory.selfMember()
	asBob.Name = "bob"
	j, _, err := group.Propose(listed, "bob", mallory.id, group.Op{Kind: group.KindJoin, Member: asBob})
	if err != nil {
		t.Fatal(err)
	}
	other, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	withKey := mallory.selfMember()
	withKey.Identity = [32]byte(other.Public().Bytes())
	k, _, err := group.Propose(listed, "mallory", other, group.Op{Kind: group.KindJoin, Member: withKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []*group.Change{j, k} {
		for _, to := range []string{"alice", "carol"} {
			if err := mallory.sendControl(ctx, to, encodeGroupChange(nil, ch), "forged join"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []*Client{alice, carol} {
		syncRefusing(t, c, "not signed by a member allowed to")
		st := mustState(t, c, "lobby")
		if st.Version() != 1 || len(st.Members()) != 2 {
			t.Fatalf("security regression: %s took a forged join: %d members at version %d", c.Username(), len(st.Members()), st.Version())
		}
	}
}

// A join that no member could answer (here: it never reached the only
// admin, as if refused everywhere without a word) is found lost from the
// listing: once the room is listed at or past the join's version without
// this user, the client joins again on the listed state by itself.
func TestPublicRoomLostJoinRejoinedFromListing(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	if _, err := alice.CreateGroup(ctx, "lobby", GroupPublic, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.JoinPublic(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	// carol's join never reaches alice.
	tr, err := alice.transport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tr.(*relayTransport).token(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	page, err := alice.api.Fetch(ctx, s.Token, 0, 200)
	if err != nil || len(page) == 0 {
		t.Fatalf("alice's mailbox: %d envelopes, %v", len(page), err)
	}
	var seqs []int64
	for _, e := range page {
		seqs = append(seqs, e.Seq)
	}
	if _, err := alice.api.Ack(ctx, s.Token, seqs); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinPublic(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, alice) // takes bob's join and lists the room at version 2
	syncTexts(t, carol) // sees the listing without her: joins again
	syncRefusing(t, alice, "sender key from a device that is not a member")
	syncTexts(t, bob)
	var hash string
	for _, c := range cs {
		gi, err := c.GroupInfo(ctx, "lobby")
		if err != nil || len(gi.Members) != 3 || hash != "" && gi.StateHash != hash {
			t.Fatalf("%s: %+v, %v", c.Username(), gi, err)
		}
		hash = gi.StateHash
	}
	mustSend(t, alice, "#lobby", "welcome")
	if got := syncTexts(t, carol); !slices.Contains(got, "#lobby:alice:welcome") {
		t.Fatalf("carol got %q", got)
	}
	mustSend(t, carol, "#lobby", "thanks")
	if got := syncTexts(t, bob); !slices.Contains(got, "#lobby:carol:thanks") {
		t.Fatalf("bob got %q", got)
	}
}

// Security regression: while carol's join waits, only a member may send
// her others' joins (the changes that beat hers). mallory, no member,
// sends her a join as "bob" under mallory's key, ground to beat carol's:
// carol refuses it and keeps her own join.
func TestSecurityRegressionJoiningUserRefusesJoinsFromNonMembers(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "carol", "mallory")
	alice, carol, mallory := cs[0], cs[1], cs[2]
	if _, err := alice.CreateGroup(ctx, "lobby", GroupPublic, nil); err != nil {
		t.Fatal(err)
	}
	rs, err := mallory.PublicRooms(ctx)
	if err != nil || len(rs) != 1 {
		t.Fatalf("rooms %v, %v", rs, err)
	}
	listed, err := mallory.verifiedListing(ctx, rs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	joined, err := carol.JoinPublic(ctx, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	var own *group.Change
	_ = carol.withGroup(ctx, "lobby", func(_ *localstore.Tx, r *groupRecord) error {
		l, err := r.log()
		if err == nil {
			own = l.Since(2)[0]
		}
		return err
	})
	oh := own.Hash()
	var fake *group.Change
	for d := uint32(1); fake == nil; d++ {
		m := mallory.selfMember()
		m.Name, m.Devices = "bob", []uint32{d}
		ch, _, err := group.Propose(listed, "bob", mallory.id, group.Op{Kind: group.KindJoin, Member: m})
		if err != nil {
			t.Fatal(err)
		}
		if h := ch.Hash(); bytes.Compare(h[:], oh[:]) < 0 {
			fake = ch
		}
	}
	if err := mallory.sendControl(ctx, "carol", encodeGroupChange(nil, fake), "forged answer"); err != nil {
		t.Fatal(err)
	}
	syncRefusing(t, carol, "a join for bob sent by mallory")
	if gi, err := carol.GroupInfo(ctx, "lobby"); err != nil || gi.StateHash != joined.StateHash {
		t.Fatalf("security regression: carol took a join from a non-member: %+v, %v", gi, err)
	}
}

// Security regression: when a change displaces others (the membership is
// rewritten), the own sending chain is dropped so that the next message
// starts a new epoch, handed only to the members of the winning state: a
// joiner displaced after being handed the chain reads nothing that follows.
func TestSecurityRegressionRewriteStartsNewEpoch(t *testing.T) {
	ids := map[string]*identity.IdentityPrivateKey{}
	member := func(name string) group.Member {
		priv, err := identity.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = priv
		return group.Member{Name: name, Identity: [32]byte(priv.Public().Bytes()), Role: group.RoleMember, Devices: []uint32{1}}
	}
	admin := member("alice")
	admin.Role = group.RoleAdmin
	st, _, err := group.Create(ids["alice"], admin, "lobby", group.Public, nil)
	if err != nil {
		t.Fatal(err)
	}
	mb, mc := member("bob"), member("carol")
	jb, _, err := group.Propose(st, "bob", ids["bob"], group.Op{Kind: group.KindJoin, Member: mb})
	if err != nil {
		t.Fatal(err)
	}
	jc, _, err := group.Propose(st, "carol", ids["carol"], group.Op{Kind: group.KindJoin, Member: mc})
	if err != nil {
		t.Fatal(err)
	}
	first, second := jb, jc
	if hb, hc := jb.Hash(), jc.Hash(); bytes.Compare(hb[:], hc[:]) < 0 {
		first, second = jc, jb
	}
	id := st.ID()
	r := &groupRecord{ID: id[:], Name: "lobby", Base: st.Marshal(), Changes: [][]byte{first.Marshal()},
		Sender: []byte{1}, Given: []string{first.Signer}}
	_, next, dropped, err := r.receive(second)
	if err != nil || len(dropped) != 1 {
		t.Fatalf("receive: %d dropped, %v", len(dropped), err)
	}
	if r.Sender != nil || r.Given != nil {
		t.Fatal("security regression: the sending chain handed to a displaced joiner is kept")
	}
	if _, ok := next.Member(first.Signer); ok {
		t.Fatal("the displaced joiner is still a member")
	}
}
