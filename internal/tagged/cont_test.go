package tagged

import (
	"bytes"
	"crypto/rand"
	"errors"
	"maps"
	"math/bits"
	mrand "math/rand/v2"
	"testing"
	"testing/cryptotest"
)

// chainTable is a Table for one session (key 1), kept in step with r the
// way the client does it: Held at start, then every Delta in order.
func chainTable(r *Receiver) *Table[int] {
	tab := NewTable[int]()
	tab.Apply(1, r.Held())
	return tab
}

// openVia finds env's session in tab as a receive path does, opens it with
// the encoded state, and applies the delta. It reports whether the table
// lookup needed the trial.
func openVia(t *testing.T, tab *Table[int], state []byte, env []byte) ([]byte, *Opened, bool, error) {
	t.Helper()
	g, err := ParseTag(env)
	if err != nil {
		return nil, nil, false, err
	}
	_, inWindow := tab.owner[g]
	if k, ok := tab.Lookup(g); !ok || k != 1 {
		return nil, nil, !inWindow, ErrUnknownTag
	}
	next, op, _, err := OpenEncoded(state, bob, env)
	if err != nil {
		return nil, nil, !inWindow, err
	}
	tab.Apply(1, op.Delta)
	return next, op, !inWindow, nil
}

// A peer offline for a long time: its contact seals a long one-way run on
// one continuable epoch, no offer reaching it, and every envelope opens
// tagged, found by one table lookup, with the state and table bounded.
func TestOneWayRunAllTagged(t *testing.T) {
	n := 50_000
	if testing.Short() {
		n = 5_000
	}
	r, s := pair(t)
	tab := chainTable(r)
	state := marshal(t, r)
	c := textContent(alice, bob, 1)
	for i := range n {
		var env []byte
		var err error
		if s, env, err = s.Seal(c); err != nil {
			t.Fatalf("seal %d: %v", i, err)
		}
		var op *Opened
		var trial bool
		if state, op, trial, err = openVia(t, tab, state, env); err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
		if trial || op.Position != i || op.Epoch != 1 {
			t.Fatalf("envelope %d: position %d, trial %v", i, op.Position, trial)
		}
		if len(state) > 230 || tab.Len() > 2*Window || tab.Epochs() != 1 {
			t.Fatalf("envelope %d: state of %d bytes, table of %d tags", i, len(state), tab.Len())
		}
	}
	if s.Remaining() != MaxPosition-n {
		t.Fatalf("sender has %d positions left", s.Remaining())
	}
}

// A gap of 500 positions (the relay expired them): the next envelope is
// beyond the table's window, found by the trial, and opens; so do the
// rest, and a late one within Window of the high-water mark; one older
// than that is too old.
func TestGapFoundByTrial(t *testing.T) {
	r, s := pair(t)
	tab := chainTable(r)
	state := marshal(t, r)
	s, envs := seal(t, s, 1000)
	_ = s
	open := func(i int) (bool, error) {
		t.Helper()
		next, op, trial, err := openVia(t, tab, state, envs[i])
		if err == nil {
			if op.Position != i {
				t.Fatalf("envelope %d opened as position %d", i, op.Position)
			}
			state = next
		}
		return trial, err
	}
	for i := range 100 {
		if _, err := open(i); err != nil {
			t.Fatal(err)
		}
	}
	// 100..599 never arrive.
	trial, err := open(600)
	if err != nil || !trial {
		t.Fatalf("envelope after the gap: %v (trial %v)", err, trial)
	}
	for i := 601; i < 1000; i++ {
		if trial, err := open(i); err != nil || trial {
			t.Fatalf("envelope %d after the gap: %v (trial %v)", i, err, trial)
		}
	}
	// Opened, within ReplayMemory of hi = 1000 (in the window, or below
	// it with the keys gone): replays, such as a relay re-sending a page.
	for _, i := range []int{999, 980, 936, 935, 700, 99, 0} {
		if _, err := open(i); !errors.Is(err, ErrReplay) {
			t.Fatalf("envelope %d again: %v, want ErrReplay", i, err)
		}
	}
	// Never opened and below the window: too old (reported).
	for _, i := range []int{599, 550, 100} {
		before := bytes.Clone(state)
		if _, err := open(i); !errors.Is(err, ErrTooOld) {
			t.Fatalf("envelope %d: %v, want ErrTooOld", i, err)
		}
		if !bytes.Equal(state, before) {
			t.Fatal("a refusal changed the state")
		}
	}
	// The same table, built afresh from the state, holds the same.
	var rr Receiver
	if err := rr.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	if fresh := chainTable(&rr); !maps.Equal(fresh.owner, tab.owner) {
		t.Fatal("the table that followed the deltas differs from one built from the state")
	}
}

// Skipped positions within Window of the high-water mark still open,
// once; reorder around a moving high-water mark.
func TestReorderAroundHighWaterMark(t *testing.T) {
	r, s := pair(t)
	tab := chainTable(r)
	state := marshal(t, r)
	_, envs := seal(t, s, 200)
	order := []int{10, 5, 9, 0, 73, 11, 72, 12, 150, 87, 149, 100, 199, 136, 198}
	for _, i := range order {
		next, op, _, err := openVia(t, tab, state, envs[i])
		if err != nil || op.Position != i {
			t.Fatalf("envelope %d: %v", i, err)
		}
		state = next
	}
	if _, _, _, err := openVia(t, tab, state, envs[135]); !errors.Is(err, ErrTooOld) {
		t.Fatalf("envelope 135 with hi 200: %v, want ErrTooOld", err)
	}
	for _, i := range order[len(order)-3:] {
		if _, _, _, err := openVia(t, tab, state, envs[i]); !errors.Is(err, ErrReplay) {
			t.Fatalf("envelope %d twice: %v", i, err)
		}
	}
	var rr Receiver
	if err := rr.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	if len(rr.chains[0].skipped) != 64-5 { // 136, 149, 150, 198, 199 opened
		t.Fatalf("%d skipped keys held, want 59", len(rr.chains[0].skipped))
	}
}

// Security regression: an envelope that skips more than MaxGap positions
// is refused and changes nothing, and derives no key; one just within
// opens.
func TestGapBeyondMaxGapRefused(t *testing.T) {
	r, s := pair(t)
	s, first := seal(t, s, 1)
	r, _, err := r.Open(bob, first[0]) // hi = 1
	if err != nil {
		t.Fatal(err)
	}
	var envs [][]byte
	for i := 1; i <= MaxGap+1; i++ {
		var env []byte
		if s, env, err = s.Seal(textContent(alice, bob, byte(i))); err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	far := envs[MaxGap] // position MaxGap+1: skips MaxGap positions
	before := marshal(t, r)
	steps := chainSteps.Load()
	if n, op, err := r.Open(bob, far); !errors.Is(err, ErrTooFarAhead) || n != nil || op != nil {
		t.Fatalf("gap of MaxGap: %v, want ErrTooFarAhead", err)
	}
	if _, _, _, err := OpenEncoded(before, bob, far); !errors.Is(err, ErrTooFarAhead) {
		t.Fatalf("OpenEncoded, gap of MaxGap: %v", err)
	}
	if !bytes.Equal(marshal(t, r), before) || chainSteps.Load() != steps {
		t.Fatal("a refused envelope changed the state or derived keys")
	}
	n, op, err := r.Open(bob, envs[MaxGap-1]) // skips MaxGap-1
	if err != nil || op.Position != MaxGap {
		t.Fatalf("gap of MaxGap-1: %v", err)
	}
	if got := chainSteps.Load() - steps; got != MaxGap {
		t.Fatalf("%d chain steps for a gap of MaxGap-1, want %d", got, MaxGap)
	}
	if len(n.chains[0].skipped) != Window-1 {
		t.Fatalf("%d skipped keys kept", len(n.chains[0].skipped))
	}
}

// Security regression: a tag nobody made, or one of another session's
// epoch, costs one block decryption per held epoch and no chain step: the
// table and the receiver are unchanged.
func TestJunkTagDerivesNothing(t *testing.T) {
	r, s := pair(t)
	_, envs := seal(t, s, 3)
	r, _, _ = r.Open(bob, envs[0])
	other, os := pair(t)
	_, stray := seal(t, os, MaxGap+100)
	tab := chainTable(r)
	tab.Apply(2, other.Held())
	before, tags, epochs := marshal(t, r), maps.Clone(tab.owner), tab.Epochs()
	steps := chainSteps.Load()
	for range 1000 {
		var g Tag
		rand.Read(g[:])
		if k, ok := tab.Lookup(g); ok {
			t.Fatalf("a random tag found session %d", k)
		}
		env := bytes.Clone(envs[1])
		copy(env[1:], g[:])
		if _, _, err := r.Open(bob, env); !errors.Is(err, ErrUnknownTag) {
			t.Fatalf("random tag: %v", err)
		}
	}
	// The other session's envelopes beyond its window: found for it by the
	// trial, never for this one.
	for i, env := range stray[100:] {
		g, _ := ParseTag(env)
		if k, ok := tab.Lookup(g); !ok || k != 2 {
			t.Fatalf("other session's tag %d: %d %v", 100+i, k, ok)
		}
		if _, _, err := r.Open(bob, env); !errors.Is(err, ErrUnknownTag) {
			t.Fatalf("other session's envelope: %v", err)
		}
	}
	if chainSteps.Load() != steps {
		t.Fatalf("junk tags derived %d chain steps", chainSteps.Load()-steps)
	}
	if !bytes.Equal(marshal(t, r), before) || !maps.Equal(tab.owner, tags) || tab.Epochs() != epochs {
		t.Fatal("junk tags changed the state or the table")
	}
}

// Tags of one continuable epoch far apart, and of other epochs and
// sessions at the same positions, share nothing: no repeats, no common
// prefix, each bit set about half the time.
func TestContinuableTagsUnlinkable(t *testing.T) {
	positions := []uint32{0, 1, 2, 63, 64, 1000, 1 << 16, MaxPosition - 1}
	var all []Tag
	seen := map[Tag]bool{}
	prefix := map[[4]byte]bool{}
	for range 2 { // two sessions
		r := &Receiver{}
		for range 3 { // three epochs each
			n, o, _, err := r.Offer()
			if err != nil {
				t.Fatal(err)
			}
			c := n.chains[len(n.chains)-1]
			for i := range uint32(4000) {
				all = append(all, tagAt(c.blk, i))
			}
			for _, p := range positions {
				all = append(all, tagAt(c.blk, p))
			}
			s, _ := (&Sender{}).Accept(o)
			_, env, _ := s.Seal(textContent(alice, bob, 0))
			if r, _, err = n.Open(bob, env); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, g := range all {
		if seen[g] && i%(4000+len(positions)) < 4000 {
			t.Fatal("a tag repeats")
		}
		seen[g] = true
		var p [4]byte
		copy(p[:], g[:4])
		prefix[p] = true
	}
	if len(prefix) < len(seen)-2 { // 4-byte collisions among ~24,000 tags: a handful at most
		t.Fatalf("%d distinct 4-byte prefixes among %d tags", len(prefix), len(seen))
	}
	for bit := range TagLen * 8 {
		ones := 0
		for g := range seen {
			ones += int(g[bit/8]>>(7-bit%8)) & 1
		}
		n := len(seen)
		if d := ones - n/2; d*d > 36*n/4 {
			t.Fatalf("bit %d set in %d of %d tags", bit, ones, n)
		}
	}
	// Consecutive positions differ in about half their bits.
	sum := 0
	for i := 1; i < 4000; i++ {
		for j := range TagLen {
			sum += bits.OnesCount8(all[i][j] ^ all[i-1][j])
		}
	}
	if avg := float64(sum) / 3999; avg < 62 || avg > 66 {
		t.Fatalf("consecutive tags differ in %.1f bits on average", avg)
	}
}

// An epoch switch with envelopes of the older epoch in flight: they still
// open after the newer one is in use; a third epoch drops the first.
func TestEpochSwitchInFlight(t *testing.T) {
	r, s := pair(t)
	tab := chainTable(r)
	state := marshal(t, r)
	s, envs := seal(t, s, RefillMark+5)
	for _, env := range envs[:RefillMark] {
		var err error
		if state, _, _, err = openVia(t, tab, state, env); err != nil {
			t.Fatal(err)
		}
	}
	var rr Receiver
	if err := rr.UnmarshalBinary(state); err != nil || !rr.NeedsOffer() {
		t.Fatalf("no offer due after %d opened: %v", RefillMark, err)
	}
	n, o, d, err := rr.Offer()
	if err != nil || o.Epoch != 2 || o.Version != OfferContinuable {
		t.Fatalf("offer: %v", err)
	}
	tab.Apply(1, d)
	state = marshal(t, n)
	s2, err := s.Accept(o)
	if err != nil || s2.Epoch() != 2 {
		t.Fatal(err)
	}
	s2, fresh := seal(t, s2, 3)
	for _, env := range append(fresh, envs[RefillMark:]...) { // the new epoch's, then the old's in flight
		if state, _, _, err = openVia(t, tab, state, env); err != nil {
			t.Fatal(err)
		}
	}
	// Epoch 2 has opened 3: a third epoch only after RefillMark of them.
	s2, more := seal(t, s2, RefillMark)
	_, late := seal(t, s, 1) // epoch 1, sealed before the sender moved on
	for _, env := range more {
		if state, _, _, err = openVia(t, tab, state, env); err != nil {
			t.Fatal(err)
		}
	}
	if err := rr.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	n, o3, d3, err := rr.Offer()
	if err != nil || o3.Epoch != 3 || len(d3.Dropped) != 1 || d3.Dropped[0].Epoch != 1 {
		t.Fatalf("third offer: %v", err)
	}
	tab.Apply(1, d3)
	if tab.Epochs() != 2 {
		t.Fatalf("table keeps %d epochs", tab.Epochs())
	}
	g, _ := ParseTag(late[0])
	if _, ok := tab.Lookup(g); ok {
		t.Fatal("a dropped epoch's tag still found")
	}
	if _, _, err := n.Open(bob, late[0]); !errors.Is(err, ErrUnknownTag) {
		t.Fatalf("envelope of a dropped epoch: %v", err)
	}
	if !maps.Equal(chainTable(n).owner, tab.owner) {
		t.Fatal("table differs from one built from the state")
	}
	_ = s2
}

// A receiver stored by the first release (two batches) offers a
// continuable epoch next, its batches still open, and a first-release
// sender moves to the continuable epoch.
func TestLegacyToContinuable(t *testing.T) {
	f := readLegacy(t)
	var r Receiver
	if err := r.UnmarshalBinary(f.Receiver); err != nil {
		t.Fatal(err)
	}
	var s Sender
	if err := s.UnmarshalBinary(f.Sender); err != nil {
		t.Fatal(err)
	}
	n, o, d, err := r.Offer()
	if err != nil || o.Epoch != 3 || o.Version != OfferContinuable || len(d.Removed) != Window || len(d.Added) != Window {
		t.Fatalf("offer after batches: %v", err)
	}
	if len(n.batches) != 1 || n.batches[0].epoch != 2 || len(n.chains) != 1 {
		t.Fatal("the oldest batch was not dropped")
	}
	b := marshal(t, n)
	if b[0] != stateVersion2 {
		t.Fatal("a state with a continuable epoch is not version 2")
	}
	var back Receiver
	if err := back.UnmarshalBinary(b); err != nil || !bytes.Equal(marshal(t, &back), b) {
		t.Fatalf("mixed state round trip: %v", err)
	}
	for _, e := range f.Unopened {
		_, op, err := back.Open(bob, e.Envelope)
		switch {
		case e.Epoch == 1 && !errors.Is(err, ErrUnknownTag):
			t.Fatalf("envelope of the dropped batch: %v", err)
		case e.Epoch == 2 && (err != nil || op.Position != e.Position):
			t.Fatalf("envelope of the kept batch: %v", err)
		}
	}
	s2, err := s.Accept(o)
	if err != nil || s2.Remaining() != MaxPosition {
		t.Fatalf("legacy sender, continuable offer: %v", err)
	}
	if sb := marshal(t, s2); sb[0] != stateVersion2 {
		t.Fatal("continuable sender not version 2")
	}
	_, envs := seal(t, s2, 2)
	nn := &back
	for i, env := range envs {
		var op *Opened
		if nn, op, err = nn.Open(bob, env); err != nil || op.Epoch != 3 || op.Position != i {
			t.Fatalf("continuable envelope %d: %v", i, err)
		}
	}
	// A stale batch offer of the same number is refused.
	if _, err := s2.Accept(&Offer{Version: OfferBatch, Epoch: 3}); !errors.Is(err, ErrStaleOffer) {
		t.Fatalf("batch offer under a continuable epoch's number: %v", err)
	}
}

// The table a session's deltas build, applied in order after each open
// and offer, is the table built afresh from the receiver it ends with, over
// random runs of in-order, reordered, lost and replayed envelopes and
// epoch switches; and every envelope the receiver still can open is found.
func TestTableFollowsDeltas(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 0x64656c7461)
	rng := mrand.New(mrand.NewPCG(1, 2))
	r, s := pair(t)
	tab := chainTable(r)
	var pending [][]byte // sealed, not delivered yet
	opened, offers, refused := 0, 0, 0
	for step := range 3000 {
		switch x := rng.IntN(100); {
		case x < 60: // seal a few
			var envs [][]byte
			s, envs = seal(t, s, 1+rng.IntN(5))
			pending = append(pending, envs...)
		case x < 63 && len(pending) > 0: // the relay loses some
			n := min(len(pending), 1+rng.IntN(120))
			pending = pending[n:]
		case x < 65 && r.NeedsOffer():
			n, o, d, err := r.Offer()
			if err != nil {
				t.Fatal(err)
			}
			r = n
			tab.Apply(1, d)
			offers++
			if s, err = s.Accept(o); err != nil {
				t.Fatal(err)
			}
		case len(pending) > 0: // deliver one, usually the oldest
			i := 0
			if rng.IntN(4) == 0 {
				i = rng.IntN(min(len(pending), 40))
			}
			env := pending[i]
			if rng.IntN(10) > 0 {
				pending = append(pending[:i:i], pending[i+1:]...)
			}
			g, _ := ParseTag(env)
			_, found := tab.Lookup(g)
			n, op, err := r.Open(bob, env)
			switch {
			case err == nil:
				if !found {
					t.Fatalf("step %d: an envelope that opens is not in the table", step)
				}
				r = n
				tab.Apply(1, op.Delta)
				opened++
			case errors.Is(err, ErrReplay), errors.Is(err, ErrTooOld), errors.Is(err, ErrUnknownTag), errors.Is(err, ErrTooFarAhead):
				refused++
			default:
				t.Fatalf("step %d: %v", step, err)
			}
		}
		fresh := chainTable(r)
		if !maps.Equal(fresh.owner, tab.owner) || fresh.Epochs() != tab.Epochs() {
			t.Fatalf("step %d: the table differs from one built from the state (%d tags, %d built)", step, tab.Len(), fresh.Len())
		}
	}
	if opened < 500 || offers < 5 || refused < 20 {
		t.Fatalf("the run opened %d, offered %d, refused %d: not the mix it is meant to be", opened, offers, refused)
	}
	t.Logf("opened %d, offered %d, refused %d", opened, offers, refused)
}

// Holds tells a receiver's tags, at any position of its epochs, from
// others', without opening anything.
func TestHolds(t *testing.T) {
	r, s := pair(t)
	_, envs := seal(t, s, 3000)
	lr, ls := legacyPair(t)
	_, lenvs := seal(t, ls, 2)
	_, other := seal(t, func() *Sender { _, o := pair(t); return o }(), 1)
	steps := chainSteps.Load()
	for _, c := range []struct {
		r    *Receiver
		env  []byte
		want bool
	}{{r, envs[0], true}, {r, envs[2999], true}, {r, other[0], false}, {r, lenvs[0], false},
		{lr, lenvs[1], true}, {lr, envs[0], false}} {
		g, _ := ParseTag(c.env)
		if c.r.Holds(g) != c.want {
			t.Fatalf("Holds: %v, want %v", !c.want, c.want)
		}
	}
	if chainSteps.Load() != steps {
		t.Fatal("Holds derived chain keys")
	}
}

// A copy older than ReplayMemory positions is too old even if it opened:
// the receiver remembers a bounded past.
func TestReplayMemoryBound(t *testing.T) {
	r, s := pair(t)
	s, envs := seal(t, s, ReplayMemory+100)
	_ = s
	for i, env := range envs {
		var err error
		if r, _, err = r.Open(bob, env); err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
	}
	hi := len(envs)
	for _, p := range []int{hi - 1, hi - Window - 1, hi - ReplayMemory} {
		if _, _, err := r.Open(bob, envs[p]); !errors.Is(err, ErrReplay) {
			t.Fatalf("position %d again: %v, want ErrReplay", p, err)
		}
	}
	for _, p := range []int{hi - ReplayMemory - 1, 0} {
		if _, _, err := r.Open(bob, envs[p]); !errors.Is(err, ErrTooOld) {
			t.Fatalf("position %d again: %v, want ErrTooOld", p, err)
		}
	}
}
