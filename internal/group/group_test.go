package group

import (
	"testing"
)

// 2 members become 3: messages sent before the add stay readable to those
// who had the chain (even when they arrive late), and the newcomer, given
// only the current chains, cannot read them.
func TestTwoBecomeThreeHistory(t *testing.T) {
	alice, bob, carol := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
	newGroup(t, Private, alice, bob)

	before := alice.send(t, "before carol")
	late := alice.send(t, "before carol, delivered late")
	bobBefore := bob.send(t, "bob before carol")
	bob.read(t, alice, before, "before carol")
	alice.read(t, bob, bobBefore, "bob before carol")

	add := alice.propose(t, Op{Kind: KindAdd, Member: carol.member()})
	mustReceive(t, add, alice, bob)
	if NeedsRotation(mustState(t, bob, 1), bob.log.Current()) {
		t.Fatal("an add must not require rotation")
	}
	// Carol starts from the create and the add, as a newcomer catches up.
	carol.join(t, alice.log.Current())
	alice.distribute(t, carol)
	bob.distribute(t, carol)
	carol.distribute(t, alice, bob)
	sameState(t, alice, bob, carol)

	bob.read(t, alice, late, "before carol, delivered late")
	for _, m := range [][]byte{before, late, bobBefore} {
		if _, err := carol.ring.Decrypt(m); err == nil {
			t.Fatal("security regression: a newcomer read a message sent before it joined")
		} else {
			wantErr(t, err, ErrReplay)
		}
	}
	after := alice.send(t, "welcome carol")
	bob.read(t, alice, after, "welcome carol")
	carol.read(t, alice, after, "welcome carol")
	hi := carol.send(t, "hi all")
	alice.read(t, carol, hi, "hi all")
	bob.read(t, carol, hi, "hi all")
}

// mustState returns the state u held at version v.
func mustState(t testing.TB, u *user, v uint64) *State {
	t.Helper()
	st, _, ok := u.log.stateAt(v)
	if !ok {
		t.Fatalf("%s has no state at version %d", u.name, v)
	}
	return st
}

// A removed member, kept running and fed every later message, decrypts
// nothing sent after its removal; its own later messages are refused.
func TestRemovedMemberReadsNothing(t *testing.T) {
	alice, bob, carol := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
	newGroup(t, Private, alice, bob, carol)
	carol.read(t, alice, alice.send(t, "carol still here"), "carol still here")

	rm := alice.propose(t, Op{Kind: KindRemove, Target: "carol"})
	old := alice.log.Current()
	mustReceive(t, rm, alice, bob, carol)
	if !NeedsRotation(old, alice.log.Current()) {
		t.Fatal("a removal must require rotation")
	}
	for _, u := range []*user{alice, bob} {
		u.ring.Forget("carol")
		u.rotate(t)
	}
	alice.distribute(t, bob)
	bob.distribute(t, alice)
	if alice.sender.Epoch() != rm.Version {
		t.Fatalf("new chain epoch %d, want %d", alice.sender.Epoch(), rm.Version)
	}

	var later [][]byte
	for range 5 {
		m := alice.send(t, "after carol")
		bob.read(t, alice, m, "after carol")
		later = append(later, m)
		m = bob.send(t, "after carol")
		alice.read(t, bob, m, "after carol")
		later = append(later, m)
	}
	for _, m := range later {
		if _, err := carol.ring.Decrypt(m); err == nil {
			t.Fatal("security regression: a removed member read a message sent after its removal")
		}
	}
	if _, err := alice.ring.Decrypt(carol.send(t, "still here?")); err == nil {
		t.Fatal("security regression: a removed member's message was accepted")
	}
	// The distribution check a client makes: carol is no member any more.
	if alice.log.Current().HasDevice("carol", 1) {
		t.Fatal("carol still listed")
	}
}

func TestLeaveRotates(t *testing.T) {
	alice, bob, carol := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
	newGroup(t, Private, alice, bob, carol)
	leave := bob.propose(t, Op{Kind: KindLeave})
	old := alice.log.Current()
	mustReceive(t, leave, alice, bob, carol)
	if !NeedsRotation(old, alice.log.Current()) {
		t.Fatal("a leave must require rotation")
	}
	for _, u := range []*user{alice, carol} {
		u.ring.Forget("bob")
		u.rotate(t)
	}
	alice.distribute(t, carol)
	m := alice.send(t, "bob left")
	carol.read(t, alice, m, "bob left")
	if _, err := bob.ring.Decrypt(m); err == nil {
		t.Fatal("security regression: a member who left read a later message")
	}
}

// A forged change is refused and the state is unchanged.
func TestForgedChangeRefused(t *testing.T) {
	alice, bob, mallory := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "mallory")
	newGroup(t, Private, alice, bob)
	st := alice.log.Current()
	hash := st.Hash()
	add := Op{Kind: KindAdd, Member: mallory.member()}

	sign := func(c *Change, by *user) *Change { c.sign(by.priv); return c }
	base := func() *Change {
		return &Change{GroupID: st.ID(), Version: st.Version() + 1, Prev: hash, Signer: "alice", Op: add}
	}
	nonAdmin := base()
	nonAdmin.Signer = "bob"
	badSig := sign(base(), alice)
	badSig.raw[len(badSig.raw)-1] ^= 1
	wrongVersion := base()
	wrongVersion.Version += 1
	replayVersion := base()
	replayVersion.Version = st.Version()
	wrongPrev := base()
	wrongPrev.Prev[0] ^= 1
	wrongGroup := base()
	wrongGroup.GroupID[0] ^= 1
	outsider := base()
	outsider.Signer = "mallory"
	selfJoin := base()
	selfJoin.Signer, selfJoin.Kind = "mallory", KindJoin // private group
	leaveOther := base()
	leaveOther.Kind = KindLeave
	leaveOther.Signer = "bob"

	cases := []struct {
		name string
		c    *Change
		want error
	}{
		{"non-admin signer", sign(nonAdmin, bob), ErrForged},
		{"admin name, wrong key", sign(base(), mallory), ErrForged},
		{"bad signature", badSig, ErrForged},
		{"version skips ahead", sign(wrongVersion, alice), ErrFuture},
		{"replayed version", sign(replayVersion, alice), ErrStale},
		{"wrong prev", sign(wrongPrev, alice), ErrFork},
		{"wrong group", sign(wrongGroup, alice), ErrWrongGroup},
		{"outsider", sign(outsider, mallory), ErrForged},
		{"self-join of a private group", sign(selfJoin, mallory), ErrInvalid},
		{"leave signed by someone else", sign(leaveOther, alice), ErrForged},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Through the encoding, as a member receives it.
			p, err := ParseChange(tc.c.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			_, err = bob.log.Receive(p)
			wantErr(t, err, tc.want)
			if bob.log.Current().Hash() != hash {
				t.Fatal("security regression: a refused change altered the state")
			}
		})
	}
	// A valid change applies once; its replay is refused.
	c := alice.propose(t, add)
	mustReceive(t, c, bob)
	_, err := bob.receive(t, c)
	wantErr(t, err, ErrStale)
}

func TestMembershipRules(t *testing.T) {
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	newGroup(t, Private, alice, bob)
	st := alice.log.Current()
	try := func(signer *user, op Op, want error) {
		t.Helper()
		_, _, err := Propose(st, signer.name, signer.priv, op)
		wantErr(t, err, want)
	}
	try(alice, Op{Kind: KindLeave}, ErrInvalid)                   // last admin
	try(alice, Op{Kind: KindRemove, Target: "alice"}, ErrInvalid) // leave instead
	try(alice, Op{Kind: KindAdd, Member: bob.member()}, ErrInvalid)
	try(alice, Op{Kind: KindRemove, Target: "carol"}, ErrInvalid)
	try(bob, Op{Kind: KindRename, Name: "bob's"}, ErrForged)
	try(alice, Op{Kind: KindRename, Name: "bad\nname"}, ErrInvalid)
	try(alice, Op{Kind: KindDevices, Devices: []uint32{2, 1}}, ErrInvalid)
	try(alice, Op{Kind: KindCreate, Name: "x", Type: Private}, ErrInvalid)

	promote := alice.propose(t, Op{Kind: KindPromote, Target: "bob", Identity: bob.member().Identity})
	mustReceive(t, promote, alice, bob)
	leave := alice.propose(t, Op{Kind: KindLeave})
	mustReceive(t, leave, bob)
	if !bob.log.Current().IsAdmin("bob") || bob.log.Current().IsAdmin("alice") {
		t.Fatal("roles after promote and leave are wrong")
	}
	dev := bob.propose(t, Op{Kind: KindDevices, Devices: []uint32{1, 7}})
	mustReceive(t, dev, bob)
	if !bob.log.Current().HasDevice("bob", 7) {
		t.Fatal("device change not applied")
	}
	ren := bob.propose(t, Op{Kind: KindRename, Name: "renamed"})
	mustReceive(t, ren, bob)
	if bob.log.Current().Name() != "renamed" || bob.log.Current().Version() != 5 {
		t.Fatalf("got %q at version %d", bob.log.Current().Name(), bob.log.Current().Version())
	}
}

// A request group: the requester signs a JoinRequest, an admin approves it
// with a change carrying it; a public group takes self-signed joins.
func TestJoinRequestAndPublicJoin(t *testing.T) {
	alice, bob, carol := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
	newGroup(t, Request, alice, bob)
	st := alice.log.Current()
	req, err := NewJoinRequest(st.ID(), carol.member(1, 2), carol.priv, 1700000000)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseJoinRequest(req.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	approve := alice.propose(t, Op{Kind: KindApprove, Request: parsed.Marshal()})
	mustReceive(t, approve, alice, bob)
	if !bob.log.Current().HasDevice("carol", 2) {
		t.Fatal("approved requester not added with its devices")
	}

	// A request edited after signing is refused (here: another name).
	enc := req.Marshal()
	enc[1+IDSize+1] ^= 1
	if _, err := ParseJoinRequest(enc); err == nil {
		t.Fatal("security regression: an altered join request verified")
	}
	// A request signed by a key other than the one it names.
	if _, err := NewJoinRequest(st.ID(), carol.member(), bob.priv, 0); err == nil {
		t.Fatal("a request for carol signed by bob was made")
	}

	pub1, pub2, dave := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "dave")
	newGroup(t, Public, pub1, pub2)
	join := dave.member()
	c, _, err := Propose(pub1.log.Current(), "dave", dave.priv, Op{Kind: KindJoin, Member: join})
	if err != nil {
		t.Fatal(err)
	}
	mustReceive(t, c, pub1, pub2)
	if !pub2.log.Current().HasDevice("dave", 1) {
		t.Fatal("public join not applied")
	}
	// A join naming someone else than its signer is forged.
	eve := newUser(t, "eve")
	_, _, err = Propose(pub1.log.Current(), "dave", eve.priv, Op{Kind: KindJoin, Member: eve.member()})
	wantErr(t, err, ErrForged)
}

// Security regression: mallory joins a public room under the free name
// "bob" with her own key. An admin who promotes "bob" names the key it
// knows for bob, so the promotion does not apply to her.
func TestSecurityRegressionPromoteNamesAKey(t *testing.T) {
	alice, carol := newUser(t, "alice"), newUser(t, "carol")
	bob, mallory := newUser(t, "bob"), newUser(t, "mallory")
	newGroup(t, Public, alice, carol)
	asBob := mallory.member()
	asBob.Name = "bob"
	j, _, err := Propose(alice.log.Current(), "bob", mallory.priv, Op{Kind: KindJoin, Member: asBob})
	if err != nil {
		t.Fatal(err)
	}
	mustReceive(t, j, alice, carol)
	_, _, err = Propose(alice.log.Current(), "alice", alice.priv, Op{Kind: KindPromote, Target: "bob", Identity: bob.member().Identity})
	wantErr(t, err, ErrInvalid)
	// A promote change forged with her key in it still needs an admin's
	// signature; one signed by alice for the real key does not apply to her.
	c := &Change{GroupID: alice.log.Current().ID(), Version: alice.log.Current().Version() + 1, Prev: alice.log.Current().Hash(),
		Signer: "alice", Op: Op{Kind: KindPromote, Target: "bob", Identity: bob.member().Identity}}
	c.sign(alice.priv)
	if _, err := carol.receive(t, c); err == nil {
		t.Fatalf("security regression: a promote of bob's key applied to mallory")
	}
	if carol.log.Current().IsAdmin("bob") {
		t.Fatal("security regression: mallory, named bob, is an admin")
	}
	mustReceive(t, alice.propose(t, Op{Kind: KindPromote, Target: "bob", Identity: mallory.member().Identity}), alice, carol)
	if !carol.log.Current().IsAdmin("bob") {
		t.Fatal("promote naming the key the member holds did not apply")
	}
}
