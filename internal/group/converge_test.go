package group

import (
	"errors"
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
		promote := alice.propose(t, Op{Kind: KindPromote, Target: "bob"})
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
	mustReceive(t, alice.propose(t, Op{Kind: KindPromote, Target: "bob"}), alice, bob)
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
