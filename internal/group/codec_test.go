package group

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/wire"
)

// restoreRing stores u's keyring and puts the restored copy in its place,
// as a client restarting would; it checks the round trip is exact.
func restoreRing(t testing.TB, u *user) {
	t.Helper()
	b, err := u.ring.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var k Keyring
	if err := k.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if again, _ := k.MarshalBinary(); !bytes.Equal(again, b) {
		t.Fatal("keyring re-encoding differs")
	}
	u.ring = &k
}

// A keyring stored mid-conversation, with skipped keys of two chains,
// keeps reading late and new messages after a restart and still refuses
// every replay.
func TestKeyringRestoredMidConversation(t *testing.T) {
	alice, bob, carol := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
	newGroup(t, Private, alice, bob, carol)
	var am, cm [][]byte
	for range 5 {
		am = append(am, alice.send(t, "from alice"))
		cm = append(cm, carol.send(t, "from carol"))
	}
	bob.read(t, alice, am[0], "from alice")
	bob.read(t, alice, am[3], "from alice") // skips 1 and 2
	bob.read(t, carol, cm[2], "from carol") // skips 0 and 1
	if bob.ring.skipped.len() != 4 {
		t.Fatalf("%d skipped keys before the restart, want 4", bob.ring.skipped.len())
	}
	restoreRing(t, bob)

	for _, m := range [][]byte{am[0], am[3], cm[2]} {
		_, err := bob.ring.Decrypt(m)
		if err == nil {
			t.Fatal("security regression: a restored keyring opened a message twice")
		}
		wantErr(t, err, ErrReplay)
	}
	for _, i := range []int{2, 4, 1} {
		bob.read(t, alice, am[i], "from alice")
	}
	for _, i := range []int{0, 4, 1, 3} {
		bob.read(t, carol, cm[i], "from carol")
	}
	bob.read(t, alice, alice.send(t, "after the restart"), "after the restart")
	restoreRing(t, bob)
	for i, m := range append(am, cm...) {
		if _, err := bob.ring.Decrypt(m); !errors.Is(err, ErrReplay) {
			t.Fatalf("security regression: message %d after a second restart: %v", i, err)
		}
	}
	if bob.ring.skipped.len() != 0 {
		t.Fatalf("%d skipped keys left after every message arrived", bob.ring.skipped.len())
	}
}

// Skipped keys keep their age across a restart: the restored keyring
// evicts the same keys, in the same order, as the one that never stopped.
func TestKeyringRestoredKeepsEvictionOrder(t *testing.T) {
	alice, bob, carol := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
	newGroup(t, Private, alice, bob, carol)
	var am [][]byte
	for range MaxSkip + 1 {
		am = append(am, alice.send(t, "a"))
	}
	bob.read(t, alice, am[MaxSkip], "a") // MaxStoredSkipped keys of alice's chain
	var cm [][]byte
	for range 6 {
		cm = append(cm, carol.send(t, "c"))
	}
	kept := bob.ring
	restoreRing(t, bob)
	for _, k := range []*Keyring{kept, bob.ring} {
		if _, err := k.Decrypt(cm[5]); err != nil { // 5 more keys evict alice's 0..4
			t.Fatal(err)
		}
	}
	b1, _ := kept.MarshalBinary()
	b2, _ := bob.ring.MarshalBinary()
	if !bytes.Equal(b1, b2) {
		t.Fatal("restored keyring evicted differently")
	}
	_, err := bob.ring.Decrypt(am[4])
	wantErr(t, err, ErrReplay)
	bob.read(t, alice, am[5], "a")
	bob.read(t, carol, cm[0], "c")
}

// Equal keyrings encode to equal bytes whatever the map order.
func TestKeyringMarshalDeterministic(t *testing.T) {
	s, err := NewSender(ID{1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeyring(ID{1})
	for i := range 40 {
		d := s.Distribution()
		rand.Read(d.KeyID[:])
		if err := k.Add(Address{User: "u", Device: uint32(i + 1)}, d); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := k.MarshalBinary()
	for range 10 {
		if b, _ := k.MarshalBinary(); !bytes.Equal(b, first) {
			t.Fatal("two encodings of one keyring differ")
		}
	}
}

func TestKeyringMarshalRefusesNonMemberAddress(t *testing.T) {
	for _, a := range []Address{{User: "", Device: 1}, {User: "bob", Device: 0}, {User: "bad\nname", Device: 1}} {
		s, _ := NewSender(ID{1}, 1)
		k := NewKeyring(ID{1})
		if err := k.Add(a, s.Distribution()); err != nil {
			t.Fatal(err)
		}
		_, err := k.MarshalBinary()
		wantErr(t, err, ErrInvalid)
	}
}

// Test encodings built field by field from the spec (§12.13), not with
// MarshalBinary.
type specChain struct {
	key          byte // key id = 32 bytes of key
	user         string
	device, next uint32
}

type specSkip struct {
	key  byte
	iter uint32
}

func specKeyring(count16 func(int) uint16, chains []specChain, skipped []specSkip) []byte {
	return specKeyringVersion(2, count16, chains, skipped)
}

// specKeyringVersion writes version 1 (skipped keys name the key id only)
// or version 2 (skipped keys name the chain's user and device too, taken
// from the chain with that key id, or "x" device 1 if none).
func specKeyringVersion(version byte, count16 func(int) uint16, chains []specChain, skipped []specSkip) []byte {
	if count16 == nil {
		count16 = func(n int) uint16 { return uint16(n) }
	}
	w := wire.NewWriter(nil)
	w.U8(version)
	w.Fixed(bytes.Repeat([]byte{0x47}, 16))
	w.U16(count16(len(chains)))
	for _, c := range chains {
		w.Fixed(bytes.Repeat([]byte{c.key}, 32))
		w.Bytes8([]byte(c.user))
		w.U32(c.device)
		w.U64(7)
		w.U32(c.next)
		w.Fixed(bytes.Repeat([]byte{0xc0}, 32))
	}
	w.U16(count16(len(skipped)))
	for _, s := range skipped {
		w.Fixed(bytes.Repeat([]byte{s.key}, 32))
		if version == 2 {
			user, device := "x", uint32(1)
			for _, c := range chains {
				if c.key == s.key {
					user, device = c.user, c.device
				}
			}
			w.Bytes8([]byte(user))
			w.U32(device)
		}
		w.U32(s.iter)
		w.Fixed(bytes.Repeat([]byte{0x3e}, 32))
	}
	return w.Bytes()
}

var (
	goodChains  = []specChain{{1, "alice", 1, 5}, {2, "bob", 2, 3}}
	goodSkipped = []specSkip{{2, 1}, {1, 4}, {1, 0}}
)

func TestKeyringSpecLayout(t *testing.T) {
	b := specKeyring(nil, goodChains, goodSkipped)
	var k Keyring
	if err := k.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if out, _ := k.MarshalBinary(); !bytes.Equal(out, b) {
		t.Fatal("MarshalBinary differs from the spec layout")
	}
	if k.group != (ID(bytes.Repeat([]byte{0x47}, 16))) || len(k.chains) != 2 || k.skipped.len() != 3 {
		t.Fatal("decoded keyring differs from its encoding")
	}
	if c := k.chains[chainID{from: Address{"bob", 2}, key: [32]byte(bytes.Repeat([]byte{2}, 32))}]; c == nil || c.epoch != 7 || c.next != 3 {
		t.Fatalf("chain decoded as %+v", c)
	}
	// The version 1 layout (chains unique by key id, skipped keys naming
	// the key id only) is still read, and written as version 2.
	var k1 Keyring
	if err := k1.UnmarshalBinary(specKeyringVersion(1, nil, goodChains, goodSkipped)); err != nil {
		t.Fatal(err)
	}
	if out, _ := k1.MarshalBinary(); !bytes.Equal(out, b) {
		t.Fatal("a version 1 keyring is not rewritten as the same version 2 keyring")
	}
	two := []specChain{{1, "alice", 1, 5}, {1, "bob", 2, 3}}
	if err := k1.UnmarshalBinary(specKeyringVersion(1, nil, two, nil)); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("version 1 with a key id twice: %v", err)
	}
	if err := k1.UnmarshalBinary(specKeyring(nil, two, nil)); err != nil || len(k1.chains) != 2 {
		t.Fatalf("version 2 with one key id from two devices: %v", err)
	}
}

func TestKeyringUnmarshalRefuses(t *testing.T) {
	good := specKeyring(nil, goodChains, goodSkipped)
	huge := func(int) uint16 { return MaxChains + 1 }
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"version 3", append([]byte{3}, good[1:]...), wire.ErrVersion},
		{"truncated", good[:len(good)-1], wire.ErrTruncated},
		{"trailing byte", append(bytes.Clone(good), 0), wire.ErrTrailing},
		{"empty", nil, wire.ErrTruncated},
		{"chain count above the limit", specKeyring(huge, nil, nil), wire.ErrTooLarge},
		{"chain count the input cannot hold", specKeyring(func(int) uint16 { return MaxChains }, nil, nil), wire.ErrTruncated},
		{"skipped count above the limit", specKeyring(func(n int) uint16 {
			if n == 0 {
				return MaxStoredSkipped + 1
			}
			return uint16(n)
		}, goodChains, nil), wire.ErrTooLarge},
		{"chains out of order", specKeyring(nil, []specChain{goodChains[1], goodChains[0]}, nil), wire.ErrMalformed},
		// Security regression: a second copy of a chain could rewind it.
		{"chain repeated", specKeyring(nil, []specChain{goodChains[0], goodChains[0]}, nil), wire.ErrMalformed},
		{"empty user", specKeyring(nil, []specChain{{1, "", 1, 0}}, nil), wire.ErrMalformed},
		{"user with a control character", specKeyring(nil, []specChain{{1, "a\x1bb", 1, 0}}, nil), wire.ErrMalformed},
		{"device 0", specKeyring(nil, []specChain{{1, "alice", 0, 0}}, nil), wire.ErrMalformed},
		{"skipped key without its chain", specKeyring(nil, goodChains, []specSkip{{3, 0}}), wire.ErrMalformed},
		// Security regression: a skipped key at or past the chain's next
		// iteration would open a message twice.
		{"skipped key at the chain's next iteration", specKeyring(nil, goodChains, []specSkip{{1, 5}}), wire.ErrMalformed},
		{"skipped key past the chain's next iteration", specKeyring(nil, goodChains, []specSkip{{2, 0xFFFFFFFF}}), wire.ErrMalformed},
		{"skipped key repeated", specKeyring(nil, goodChains, []specSkip{{1, 2}, {1, 2}}), wire.ErrMalformed},
	}
	var k Keyring
	if err := k.UnmarshalBinary(good); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		err := k.UnmarshalBinary(c.b)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		var we *wire.Error
		if !errors.As(err, &we) {
			t.Errorf("%s: %T is not a *wire.Error", c.name, err)
		}
		if out, _ := k.MarshalBinary(); !bytes.Equal(out, good) {
			t.Fatalf("%s: a refused input changed the keyring", c.name)
		}
	}
}

// threeAdmins is a group of alice, bob and carol in which alice and bob
// are admins (version 2).
func threeAdmins(t testing.TB) (alice, bob, carol *user) {
	alice, bob, carol = newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
	newGroup(t, Private, alice, bob, carol)
	mustReceive(t, alice.propose(t, Op{Kind: KindPromote, Target: "bob", Identity: bob.member().Identity}), alice, bob, carol)
	return alice, bob, carol
}

// restoreLog stores u's log and puts the restored copy in its place; it
// checks the round trip is exact.
func restoreLog(t testing.TB, u *user) {
	t.Helper()
	b, err := u.log.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseLog(b)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := l.MarshalBinary(); !bytes.Equal(again, b) {
		t.Fatal("log re-encoding differs")
	}
	if l.Current().Hash() != u.log.Current().Hash() || len(l.entries) != len(u.log.entries) {
		t.Fatal("restored log holds another state")
	}
	u.log = l
}

// A log restored between two concurrent changes resolves them as one that
// never stopped: the winner arriving second rolls back the loser.
func TestLogRestoredResolvesRace(t *testing.T) {
	alice, bob, carol := threeAdmins(t)
	ca := alice.propose(t, Op{Kind: KindRename, Name: "by alice"})
	cb := bob.propose(t, Op{Kind: KindRename, Name: "by bob"})
	win, lose := ca, cb
	if h1, h2 := ca.Hash(), cb.Hash(); bytes.Compare(h2[:], h1[:]) < 0 {
		win, lose = cb, ca
	}
	mustReceive(t, lose, carol)
	restoreLog(t, carol)
	dropped, err := carol.receive(t, win)
	if err != nil || len(dropped) != 1 || dropped[0].Hash() != lose.Hash() {
		t.Fatalf("restored log did not roll back the loser (%v, %d dropped)", err, len(dropped))
	}
	mustReceive(t, win, alice, bob)
	sameState(t, alice, bob, carol)
	restoreLog(t, carol)
	_, err = carol.receive(t, lose)
	wantErr(t, err, ErrLostRace)
	_, err = carol.receive(t, win)
	wantErr(t, err, ErrStale)
}

// A full log (its base moved past the creation) round-trips and keeps
// exactly MaxHistory changes.
func TestLogRestoredWhenFull(t *testing.T) {
	alice, _, _ := threeAdmins(t)
	restoreLog(t, alice) // one change
	for i := range MaxHistory + 5 {
		mustReceive(t, alice.propose(t, Op{Kind: KindRename, Name: string(rune('A' + i))}), alice)
	}
	restoreLog(t, alice)
	if len(alice.log.entries) != MaxHistory || alice.log.base.Version() != 2+MaxHistory+5-MaxHistory {
		t.Fatalf("restored log has %d changes from version %d", len(alice.log.entries), alice.log.base.Version())
	}
	mustReceive(t, alice.propose(t, Op{Kind: KindRename, Name: "after"}), alice)
	empty := NewLog(alice.log.Current())
	b, _ := empty.MarshalBinary()
	if l, err := ParseLog(b); err != nil || len(l.entries) != 0 || l.Current().Hash() != empty.Current().Hash() {
		t.Fatalf("log with no changes: %v", err)
	}
}

// specLog builds a log encoding field by field from the spec.
func specLog(base []byte, count int, changes ...[]byte) []byte {
	w := wire.NewWriter(nil)
	w.U8(0x01)
	w.Bytes32(base)
	w.U8(uint8(count))
	for _, c := range changes {
		w.Bytes32(c)
	}
	return w.Bytes()
}

func TestParseLogRefuses(t *testing.T) {
	alice, _, carol := threeAdmins(t)
	base := alice.log.Current().Marshal()
	c1 := alice.propose(t, Op{Kind: KindRename, Name: "one"})
	mustReceive(t, c1, alice)
	c2 := alice.propose(t, Op{Kind: KindRename, Name: "two"})
	mustReceive(t, c2, alice)
	good := specLog(base, 2, c1.Marshal(), c2.Marshal())
	if l, err := ParseLog(good); err != nil || l.Current().Hash() != alice.log.Current().Hash() {
		t.Fatalf("spec layout: %v", err)
	}
	forged := c1.Marshal()
	forged[len(forged)-1] ^= 1
	// carol is no admin: her rename is well formed and well signed, but
	// not one this member would have applied.
	carolRename := &Change{GroupID: c1.GroupID, Version: 3, Prev: c1.Prev, Signer: "carol", Op: Op{Kind: KindRename, Name: "mine"}}
	carolRename.sign(carol.priv)
	many := make([][]byte, MaxHistory+1)
	for i := range many {
		many[i] = c1.Marshal()
	}
	cases := []struct {
		name string
		b    []byte
		want []error
	}{
		{"version 2", append([]byte{2}, good[1:]...), []error{wire.ErrVersion}},
		{"truncated", good[:len(good)-1], []error{wire.ErrTruncated}},
		{"trailing byte", append(bytes.Clone(good), 0), []error{wire.ErrTrailing}},
		{"more changes than the history keeps", specLog(base, MaxHistory+1, many...), []error{wire.ErrTooLarge}},
		{"count the input cannot hold", specLog(base, 3, c1.Marshal(), c2.Marshal()), []error{wire.ErrTruncated}},
		{"base is not a state", specLog(c1.Marshal(), 0), []error{wire.ErrMalformed}},
		{"changes out of order", specLog(base, 2, c2.Marshal(), c1.Marshal()), []error{wire.ErrMalformed, ErrFuture}},
		{"change repeated", specLog(base, 2, c1.Marshal(), c1.Marshal()), []error{wire.ErrMalformed, ErrStale}},
		// Security regressions: a stored log cannot carry a change the
		// member would have refused.
		{"forged signature", specLog(base, 1, forged), []error{wire.ErrMalformed, ErrForged}},
		{"change by a non-admin", specLog(base, 1, carolRename.Marshal()), []error{wire.ErrMalformed, ErrForged}},
		{"too large", make([]byte, maxLogSize+1), []error{wire.ErrTooLarge}},
	}
	for _, c := range cases {
		l, err := ParseLog(c.b)
		if l != nil {
			t.Errorf("%s: a log was returned with the error", c.name)
		}
		for _, want := range c.want {
			if !errors.Is(err, want) {
				t.Errorf("%s: got %v, want %v", c.name, err, want)
			}
		}
	}
}

func FuzzKeyringUnmarshal(f *testing.F) {
	alice, bob, carol := newUser(f, "alice"), newUser(f, "bob"), newUser(f, "carol")
	newGroup(f, Private, alice, bob, carol)
	var seeds [][]byte
	for _, i := range []int{0, 3} {
		for range i + 1 {
			alice.send(f, "a")
		}
		bob.read(f, alice, alice.send(f, "a"), "a")
		b, err := bob.ring.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	seeds = append(seeds, specKeyring(nil, goodChains, goodSkipped))
	addSeeds(f, seeds)
	f.Fuzz(func(t *testing.T, b []byte) {
		var k Keyring
		if k.UnmarshalBinary(b) != nil {
			return
		}
		if out, err := k.MarshalBinary(); err != nil || !bytes.Equal(out, b) {
			t.Fatalf("MarshalBinary(UnmarshalBinary(b)) != b (%v)", err)
		}
	})
}

func FuzzParseLog(f *testing.F) {
	v := loadVectors(f)
	states, changes := hexSeeds(f, v.States...), hexSeeds(f, v.Changes...)
	var seeds [][]byte
	for i := range states {
		seeds = append(seeds, specLog(states[0], i, changes[1:i+1]...))
	}
	addSeeds(f, seeds)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLog(b)
		if err != nil {
			return
		}
		if out, err := l.MarshalBinary(); err != nil || !bytes.Equal(out, b) {
			t.Fatalf("MarshalBinary(ParseLog(b)) != b (%v)", err)
		}
	})
}
