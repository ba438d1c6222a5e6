package group

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Two admins change the same version at once; members receive the changes
// in every order. The loser is rebased by its author, and every member ends
// with the same state hash holding both changes.
func TestConcurrentChangesConverge(t *testing.T) {
	for trial := range 8 {
		alice, bob, carol := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
		dave := newUser(t, "dave")
		newGroup(t, Private, alice, bob, carol)
		promote := alice.propose(t, Op{Kind: KindPromote, Target: "bob", Identity: bob.member().Identity})
		mustReceive(t, promote, alice, bob, carol)

		// Both made on version 2, neither author has seen the other's.
		ca := alice.propose(t, Op{Kind: KindAdd, Member: dave.member()})
		cb := bob.propose(t, Op{Kind: KindRename, Name: "concurrent"})
		authors := map[string]*user{"alice": alice, "bob": bob}
		orders := map[*user][]*Change{
			alice: {ca, cb}, bob: {cb, ca},
			carol: [][]*Change{{ca, cb}, {cb, ca}}[trial%2],
		}
		var resent []*Change
		for u, order := range orders {
			for _, c := range order {
				dropped, err := u.receive(t, c)
				if err != nil && !errors.Is(err, ErrLostRace) {
					t.Fatalf("%s: %v", u.name, err)
				}
				for _, d := range dropped {
					if d.Signer == u.name {
						// Only the author rebases its own dropped change.
						r, _, err := Rebase(u.log.Current(), d, authors[u.name].priv)
						if err != nil {
							t.Fatal(err)
						}
						resent = append(resent, r)
					}
				}
			}
		}
		if len(resent) != 1 {
			t.Fatalf("trial %d: %d rebased changes, want 1", trial, len(resent))
		}
		sameState(t, alice, bob, carol)
		for _, u := range []*user{alice, bob, carol} {
			if _, err := u.receive(t, resent[0]); err != nil && u.name != resent[0].Signer {
				t.Fatalf("%s: rebased change: %v", u.name, err)
			}
		}
		// The author applies its rebased change through Receive too.
		sameState(t, alice, bob, carol)
		st := carol.log.Current()
		if st.Version() != 4 || st.Name() != "concurrent" || !st.HasDevice("dave", 1) {
			t.Fatalf("trial %d: converged state lacks a change (version %d, name %q)", trial, st.Version(), st.Name())
		}
	}
}

// A concurrent change that loses is refused and leaves the log as it was.
func TestLostRaceLeavesLog(t *testing.T) {
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	newGroup(t, Private, alice, bob)
	mustReceive(t, alice.propose(t, Op{Kind: KindPromote, Target: "bob", Identity: bob.member().Identity}), alice, bob)
	ca := alice.propose(t, Op{Kind: KindRename, Name: "a"})
	cb := bob.propose(t, Op{Kind: KindRename, Name: "b"})
	win, lose := ca, cb
	if h1, h2 := ca.Hash(), cb.Hash(); string(h2[:]) < string(h1[:]) {
		win, lose = cb, ca
	}
	mustReceive(t, win, alice)
	before := alice.log.Current().Hash()
	_, err := alice.receive(t, lose)
	wantErr(t, err, ErrLostRace)
	if alice.log.Current().Hash() != before {
		t.Fatal("a losing change altered the state")
	}
}

// Security regression: mallory joined a public room and was removed. On a
// stale listing (the state before her first join) she signs joins again
// for that old version, grinding until one beats her first join. A member
// holding her removal must refuse them all, and a join also never beats a
// change an admin made at the same version.
func TestSecurityRegressionStaleJoinCannotUndoRemoval(t *testing.T) {
	alice, bob, mallory := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "mallory")
	newGroup(t, Public, alice, bob)
	stale := alice.log.Current() // the listing a server may keep serving
	first := highJoin(t, stale, mallory)
	mustReceive(t, first, alice, bob)
	remove := alice.propose(t, Op{Kind: KindRemove, Target: "mallory"})
	mustReceive(t, remove, alice, bob)

	fh := first.Hash()
	var beat bool
	for d := uint32(2); d < 64; d++ {
		again, _, err := Propose(stale, "mallory", mallory.priv, Op{Kind: KindJoin, Member: mallory.member(d)})
		if err != nil {
			t.Fatal(err)
		}
		if h := again.Hash(); bytes.Compare(h[:], fh[:]) < 0 {
			beat = true
		}
		if _, err := bob.receive(t, again); !errors.Is(err, ErrLostRace) {
			t.Fatalf("security regression: a stale join was taken over a removal: %v", err)
		}
		if _, ok := bob.log.Current().Member("mallory"); ok {
			t.Fatal("security regression: a removed member is back")
		}
	}
	if !beat {
		t.Fatal("no join with a lower hash than the first one was tried")
	}

	// A join racing an admin's change for the same version loses, whatever
	// the hashes.
	carol := newUser(t, "carol")
	before := alice.log.Current()
	ren := alice.propose(t, Op{Kind: KindRename, Name: "renamed"})
	mustReceive(t, ren, alice)
	for d := uint32(1); d < 32; d++ {
		j, _, err := Propose(before, "carol", carol.priv, Op{Kind: KindJoin, Member: carol.member(d)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.receive(t, j); !errors.Is(err, ErrLostRace) {
			t.Fatalf("a join beat a rename: %v", err)
		}
	}
}

// Two joins for the same version: every member keeps the one with the
// lower hash, whatever the order, and the loser can rejoin on top.
func TestConcurrentJoinsConverge(t *testing.T) {
	alice, bob, carol, dave := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol"), newUser(t, "dave")
	newGroup(t, Public, alice, bob)
	st := alice.log.Current()
	jc, _, err := Propose(st, "carol", carol.priv, Op{Kind: KindJoin, Member: carol.member()})
	if err != nil {
		t.Fatal(err)
	}
	jd, _, err := Propose(st, "dave", dave.priv, Op{Kind: KindJoin, Member: dave.member()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Change{jc, jd} {
		if _, err := alice.receive(t, c); err != nil && !errors.Is(err, ErrLostRace) {
			t.Fatal(err)
		}
	}
	for _, c := range []*Change{jd, jc} {
		if _, err := bob.receive(t, c); err != nil && !errors.Is(err, ErrLostRace) {
			t.Fatal(err)
		}
	}
	sameState(t, alice, bob)
	if len(alice.log.Current().Members()) != 3 {
		t.Fatalf("Since: %d changes from version 2", len(alice.log.Current().Members()))
	}
}

// Security regression: the removal of mallory is withheld from bob while
// her stale join (ground to beat her first join) reaches him. Whatever the
// order in which bob then receives the first join, the stale one and the
// removal, he ends where alice is: mallory removed.
func TestSecurityRegressionWithheldRemovalAndStaleJoin(t *testing.T) {
	for _, order := range []string{"first,stale,remove", "stale,first,remove", "first,remove,stale"} {
		alice, bob, mallory := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "mallory")
		newGroup(t, Public, alice, bob)
		stale := alice.log.Current()
		first := highJoin(t, stale, mallory)
		mustReceive(t, first, alice)
		remove := alice.propose(t, Op{Kind: KindRemove, Target: "mallory"})
		mustReceive(t, remove, alice)
		fh := first.Hash()
		var again *Change
		for d := uint32(2); again == nil; d++ {
			c, _, err := Propose(stale, "mallory", mallory.priv, Op{Kind: KindJoin, Member: mallory.member(d)})
			if err != nil {
				t.Fatal(err)
			}
			if h := c.Hash(); bytes.Compare(h[:], fh[:]) < 0 {
				again = c
			}
		}
		byName := map[string]*Change{"first": first, "stale": again, "remove": remove}
		for _, n := range strings.Split(order, ",") {
			if _, err := bob.receive(t, byName[n]); err != nil && !errors.Is(err, ErrLostRace) {
				t.Fatalf("%s: bob receiving %s: %v", order, n, err)
			}
		}
		if _, ok := bob.log.Current().Member("mallory"); ok {
			t.Fatalf("security regression (%s): bob still has mallory", order)
		}
		sameState(t, alice, bob)
		// Through storage: the lost joins survive a rebuilt Log.
		re := NewLog(bob.log.base)
		for _, e := range bob.log.entries {
			if _, err := re.Receive(e.change); err != nil {
				t.Fatal(err)
			}
		}
		re.Remember(bob.log.Lost()...)
		if len(re.Lost()) != len(bob.log.Lost()) {
			t.Fatal("lost joins not restored")
		}
	}
}

// highJoin is u's join on st, with a hash in the upper half so that a test
// finds a lower one quickly.
func highJoin(t *testing.T, st *State, u *user) *Change {
	t.Helper()
	for d := uint32(100); ; d++ {
		c, _, err := Propose(st, u.name, u.priv, Op{Kind: KindJoin, Member: u.member(d)})
		if err != nil {
			t.Fatal(err)
		}
		if h := c.Hash(); h[0] >= 0x80 {
			return c
		}
	}
}
