package tagged

import (
	"bytes"
	"errors"
	"math/bits"
	"testing"
	"testing/cryptotest"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/wire"
)

func TestBatchSealOpenInOrder(t *testing.T) {
	r, s := legacyPair(t)
	for i := range Window {
		want := textContent(alice, bob, byte(i))
		var env []byte
		var err error
		s, env, err = s.Seal(want)
		if err != nil {
			t.Fatalf("seal %d: %v", i, err)
		}
		var op *Opened
		r, op, err = r.Open(bob, env)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if !equalContent(op.Content, want) || op.Position != i || op.Epoch != 1 {
			t.Fatalf("open %d: got position %d epoch %d, content equal %v", i, op.Position, op.Epoch, equalContent(op.Content, want))
		}
	}
	if s.CanSeal() {
		t.Fatal("sender can seal beyond its batch")
	}
	if _, _, err := s.Seal(textContent(alice, bob, 0)); !errors.Is(err, ErrNoPosition) {
		t.Fatalf("seal beyond the batch: %v, want ErrNoPosition", err)
	}
}

// Security regression: every byte of a tagged envelope flipped is refused,
// and the receiver's state is unchanged, so the genuine envelope still opens.
func TestEveryByteFlippedRefusedStateUnchanged(t *testing.T) {
	bothPairs(t, everyByteFlipped)
}

func everyByteFlipped(t *testing.T, pair func(testing.TB) (*Receiver, *Sender)) {
	r, s := pair(t)
	_, envs := seal(t, s, 1)
	env := envs[0]
	before := marshal(t, r)
	for i := range env {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(env)
			bad[i] ^= mask
			n, op, err := r.Open(bob, bad)
			if err == nil || n != nil || op != nil {
				t.Fatalf("byte %d ^ %#x: opened (err %v)", i, mask, err)
			}
			if !bytes.Equal(marshal(t, r), before) {
				t.Fatalf("byte %d ^ %#x: refusal changed the state", i, mask)
			}
		}
	}
	// Truncated and extended envelopes too.
	for _, bad := range [][]byte{env[:len(env)-1], env[:len(env)-16], append(bytes.Clone(env), 0), env[:1+TagLen]} {
		if _, _, err := r.Open(bob, bad); err == nil {
			t.Fatalf("length %d opened", len(bad))
		}
	}
	if !bytes.Equal(marshal(t, r), before) {
		t.Fatal("a refusal changed the state")
	}
	if _, _, err := r.Open(bob, env); err != nil {
		t.Fatalf("genuine envelope after the forgeries: %v", err)
	}
}

// Security regression: a relay moving a ciphertext under another valid tag
// gains nothing.
func TestSwappedTagsRefused(t *testing.T) {
	bothPairs(t, swappedTags)
}

func swappedTags(t *testing.T, pair func(testing.TB) (*Receiver, *Sender)) {
	r, s := pair(t)
	_, envs := seal(t, s, 2)
	a, b := bytes.Clone(envs[0]), bytes.Clone(envs[1])
	copy(a[1:1+TagLen], envs[1][1:1+TagLen])
	copy(b[1:1+TagLen], envs[0][1:1+TagLen])
	for _, bad := range [][]byte{a, b} {
		if _, _, err := r.Open(bob, bad); !errors.Is(err, ErrAuth) {
			t.Fatalf("swapped tag: %v, want ErrAuth", err)
		}
	}
}

// Security regression: an envelope opens once; a replay is refused as a
// replay (the position is a tombstone) and changes nothing.
func TestReplayRefused(t *testing.T) {
	bothPairs(t, replayRefused)
}

func replayRefused(t *testing.T, pair func(testing.TB) (*Receiver, *Sender)) {
	r, s := pair(t)
	_, envs := seal(t, s, 2)
	r1, _, err := r.Open(bob, envs[0])
	if err != nil {
		t.Fatal(err)
	}
	before := marshal(t, r1)
	if _, _, err := r1.Open(bob, envs[0]); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v, want ErrReplay", err)
	}
	if !bytes.Equal(marshal(t, r1), before) {
		t.Fatal("a replay changed the state")
	}
	// The old state value is untouched by Open (copy, then commit).
	if _, _, err := r.Open(bob, envs[0]); err != nil {
		t.Fatalf("the state before the first open was modified: %v", err)
	}
}

func TestReorderWithinWindow(t *testing.T) {
	bothPairs(t, reorderWithinWindow)
}

func reorderWithinWindow(t *testing.T, pair func(testing.TB) (*Receiver, *Sender)) {
	r, s := pair(t)
	_, envs := seal(t, s, Window)
	// Reverse order, then check each opened once.
	for i := len(envs) - 1; i >= 0; i-- {
		var op *Opened
		var err error
		r, op, err = r.Open(bob, envs[i])
		if err != nil || op.Position != i {
			t.Fatalf("envelope %d out of order: %v", i, err)
		}
	}
	for i := range envs {
		if _, _, err := r.Open(bob, envs[i]); !errors.Is(err, ErrReplay) {
			t.Fatalf("envelope %d twice: %v", i, err)
		}
	}
}

// An envelope from a batch the receiver has dropped (more than MaxEpochs
// batches ago) is beyond the window: refused as unknown, state unchanged.
func TestBeyondWindowRefused(t *testing.T) {
	r, s := pair(t)
	s, old := seal(t, s, 1) // position 0 of epoch 1, never delivered
	for epoch := 2; epoch <= 3; epoch++ {
		// The peer uses RefillMark positions of the newest batch, then the
		// receiver offers the next.
		var envs [][]byte
		s, envs = seal(t, s, RefillMark)
		for _, env := range envs {
			var err error
			if r, _, err = r.Open(bob, env); err != nil {
				t.Fatal(err)
			}
		}
		if !r.NeedsOffer() {
			t.Fatal("no refill after RefillMark opened positions")
		}
		var o *Offer
		var err error
		if r, o, _, err = r.Offer(); err != nil || o.Epoch != uint32(epoch) {
			t.Fatalf("offer %d: %v", epoch, err)
		}
		if s, err = s.Accept(o); err != nil {
			t.Fatal(err)
		}
	}
	before := marshal(t, r)
	if _, _, err := r.Open(bob, old[0]); !errors.Is(err, ErrUnknownTag) {
		t.Fatalf("envelope of a dropped batch: %v, want ErrUnknownTag", err)
	}
	if !bytes.Equal(marshal(t, r), before) {
		t.Fatal("refusal changed the state")
	}
}

// Within the batches held, an envelope of the previous batch still opens
// after the sender moved to the next (in flight while the offer crossed).
func TestPreviousBatchStillOpens(t *testing.T) {
	r, s := pair(t)
	s, first := seal(t, s, 1)
	r2, o, d, err := r.Offer()
	if err != nil {
		t.Fatal(err)
	}
	if o.Epoch != 1 || len(d.Added) != 0 {
		t.Fatalf("an unused batch must be offered again: epoch %d, %d tags added", o.Epoch, len(d.Added))
	}
	r2, _, err = r2.Open(bob, first[0])
	if err != nil {
		t.Fatal(err)
	}
	r3, o2, d2, err := r2.Offer()
	if err != nil || o2.Epoch != 2 || len(d2.Added) != Window || len(d2.Removed) != 0 {
		t.Fatalf("second offer: %v", err)
	}
	s, late := seal(t, s, 1) // sealed under epoch 1 before the offer arrived
	s2, err := s.Accept(o2)
	if err != nil {
		t.Fatal(err)
	}
	_, fresh := seal(t, s2, 1)
	r4, op, err := r3.Open(bob, fresh[0])
	if err != nil || op.Epoch != 2 {
		t.Fatalf("new batch: %v", err)
	}
	if _, op, err = r4.Open(bob, late[0]); err != nil || op.Epoch != 1 || op.Position != 1 {
		t.Fatalf("late envelope of the previous batch: %v", err)
	}
}

func TestWrongRecipientRefused(t *testing.T) {
	r, s := pair(t)
	_, env, err := s.Seal(textContent(alice, carol, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Open(bob, env); !errors.Is(err, ErrWrongRecipient) {
		t.Fatalf("content for carol opened by bob: %v", err)
	}
}

func TestOfferAcceptRules(t *testing.T) {
	r, o1, _, _ := (&Receiver{}).Offer()
	s, err := (&Sender{}).Accept(o1)
	if err != nil {
		t.Fatal(err)
	}
	// A repeat keeps the position.
	s, _ = seal(t, s, 3)
	again, err := s.Accept(o1)
	if err != nil || again.Remaining() != MaxPosition-3 {
		t.Fatalf("repeated offer: %v, remaining %d", err, again.Remaining())
	}
	// Another seed under the same epoch, before use: refused.
	fresh, _ := (&Sender{}).Accept(o1)
	other := *o1
	other.Seed[0] ^= 1
	if _, err := fresh.Accept(&other); !errors.Is(err, ErrStaleOffer) {
		t.Fatalf("conflicting offer: %v", err)
	}
	_, envs := seal(t, s, 1)
	r, _, _ = r.Open(bob, envs[0])
	_, o2, _, _ := r.Offer()
	s2, err := s.Accept(o2)
	if err != nil || s2.Epoch() != 2 || s2.Remaining() != MaxPosition {
		t.Fatalf("newer offer: %v", err)
	}
	if _, err := s2.Accept(o1); !errors.Is(err, ErrStaleOffer) {
		t.Fatalf("older offer after a newer: %v", err)
	}
	if _, err := s2.Accept(&Offer{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("epoch 0: %v", err)
	}
}

func TestReceiverBounded(t *testing.T) {
	r := &Receiver{}
	s := &Sender{}
	for i := range 10 {
		n, o, _, err := r.Offer()
		if err != nil {
			t.Fatal(err)
		}
		if s, err = s.Accept(o); err != nil {
			t.Fatal(err)
		}
		var env []byte
		s, env, _ = s.Seal(textContent(alice, bob, byte(i)))
		if r, _, err = n.Open(bob, env); err != nil {
			t.Fatal(err)
		}
		if r.epochs() > MaxEpochs || len(r.Tags()) > MaxEpochs*2*Window {
			t.Fatalf("receiver holds %d epochs", r.epochs())
		}
	}
	if b := marshal(t, r); len(b) > 3+MaxEpochs*(5+32+32+4+32+1+8+Window*keyLen) {
		t.Fatalf("state of %d bytes", len(b))
	}
}

func TestStatesRoundTrip(t *testing.T) {
	r, s := legacyPair(t)
	s, envs := seal(t, s, 5)
	for _, env := range envs[:3] {
		r, _, _ = r.Open(bob, env)
	}
	var r2 Receiver
	if err := r2.UnmarshalBinary(marshal(t, r)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(marshal(t, &r2), marshal(t, r)) {
		t.Fatal("receiver does not re-encode to the same bytes")
	}
	var s2 Sender
	if err := s2.UnmarshalBinary(marshal(t, s)); err != nil {
		t.Fatal(err)
	}
	// The decoded states carry on the conversation.
	_, env, err := s2.Seal(textContent(alice, bob, 9))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r2.Open(bob, env); err != nil {
		t.Fatalf("decoded receiver: %v", err)
	}
	if _, _, err := r2.Open(bob, envs[4]); err != nil {
		t.Fatalf("decoded receiver, envelope sealed before: %v", err)
	}
	if _, _, err := r2.Open(bob, envs[0]); !errors.Is(err, ErrReplay) {
		t.Fatalf("decoded receiver forgot a tombstone: %v", err)
	}
	// A used-up sender encodes without its chain key.
	used, _ := seal(t, s, Window-5)
	if b := marshal(t, used); len(b) != 7 {
		t.Fatalf("used-up sender encodes to %d bytes", len(b))
	}
}

func TestBatchStrictStateDecoding(t *testing.T) {
	r, s := legacyPair(t)
	_, envs := seal(t, s, 1)
	used, _, _ := r.Open(bob, envs[0])
	rb := marshal(t, r)    // one unused batch with its seed
	ub := marshal(t, used) // one used batch, no seed
	sb := marshal(t, s)
	second := bytes.Clone(rb[2:])
	second[3] = 2 // epoch 2
	twoUnused := append([]byte{1, 2}, append(bytes.Clone(rb[2:]), second...)...)
	notConsecutive := append([]byte{1, 2}, append(bytes.Clone(ub[2:]), rb[2:]...)...)
	binary := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	for name, b := range map[string][]byte{
		"empty": nil, "version": binary(rb, 0, 2), "three batches": binary(rb, 1, 3),
		"trailing": append(bytes.Clone(rb), 0), "truncated": rb[:len(rb)-1],
		"epoch 0":            binary(rb, 5, 0),
		"has_seed 2":         binary(rb, 6, 2),
		"seed after use":     append(append(bytes.Clone(ub[:6]), 1), append(make([]byte, 32), ub[7:]...)...),
		"unused, no seed":    append(append(bytes.Clone(rb[:6]), 0), rb[7+32:]...),
		"opened 2":           binary(rb, 7+32+TagLen, 2),
		"older batch unused": twoUnused,
		"not consecutive":    notConsecutive,
	} {
		var got Receiver
		err := got.UnmarshalBinary(b)
		var we *wire.Error
		if !errors.As(err, &we) {
			t.Errorf("receiver %s: %v, want a *wire.Error", name, err)
		}
		t.Logf("receiver %s: %v", name, err)
	}
	for name, b := range map[string][]byte{
		"empty": nil, "version": binary(sb, 0, 2), "has 2": binary(sb, 1, 2),
		"epoch 0": append([]byte{1, 1, 0, 0, 0, 0}, sb[6:]...), "position 65": binary(sb, 6, 65),
		"trailing": append(bytes.Clone(sb), 0), "truncated": sb[:len(sb)-1],
		"used up with key": binary(sb, 6, Window),
	} {
		var got Sender
		if err := got.UnmarshalBinary(b); err == nil {
			t.Errorf("sender %s: accepted", name)
		}
	}
	for name, b := range map[string][]byte{
		"epoch 0": make([]byte, OfferLen), "short": make([]byte, OfferLen-1),
	} {
		b[0] = 1
		if _, err := ParseOffer(b); err == nil {
			t.Errorf("offer %s: accepted", name)
		}
	}
}

func TestParseTagLengths(t *testing.T) {
	r, s := pair(t)
	_, envs := seal(t, s, 1)
	_ = r
	if len(envs[0]) != 256+Overhead {
		t.Fatalf("envelope of a 100-byte text is %d bytes", len(envs[0]))
	}
	for name, b := range map[string][]byte{
		"empty": nil, "sealed envelope type": append([]byte{envelope.SealedVersion}, envs[0][1:]...),
		"not a bucket": append(bytes.Clone(envs[0]), make([]byte, 10)...),
		"too short":    envs[0][:minEnvelope-1],
		"too large":    make([]byte, envelope.MaxEnvelope+1),
	} {
		if _, err := ParseTag(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Tags must not be linkable: no counter in the clear, no common prefix, no
// bias, across positions, batches and sessions. A seeded random source
// makes the check deterministic.
func TestTagsIndependent(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 0x7461677320696e64)
	const batches = 100
	// byPos[p] holds the tag at position p of every batch of both sessions.
	var byPos [Window][]Tag
	rs := []*Receiver{{}, {}} // two sessions
	for range batches {
		for i, r := range rs {
			n, _, d, err := r.Offer()
			if err != nil || len(d.Added) != Window {
				t.Fatalf("offer: %v", err)
			}
			for p, g := range d.Added {
				byPos[p] = append(byPos[p], g)
			}
			// Use the batch so that the next Offer makes a new one.
			s, _ := (&Sender{}).Accept(n.PendingOffer())
			_, env, _ := s.Seal(textContent(alice, bob, 0))
			if rs[i], _, err = n.Open(bob, env); err != nil {
				t.Fatal(err)
			}
		}
	}
	var all []Tag
	seen := map[Tag]bool{}
	for p := range byPos {
		for _, g := range byPos[p] {
			if seen[g] {
				t.Fatal("a tag repeats")
			}
			seen[g] = true
			all = append(all, g)
		}
	}
	n := len(all) // 2 sessions * 100 batches * 64 positions
	// Every bit is set in about half the tags (6 standard deviations).
	for bit := range TagLen * 8 {
		ones := 0
		for _, g := range all {
			ones += int(g[bit/8]>>(7-bit%8)) & 1
		}
		if d := ones - n/2; d*d > 36*n/4 {
			t.Fatalf("bit %d set in %d of %d tags", bit, ones, n)
		}
	}
	// No counter: the first byte has the same mean at every position, and
	// consecutive positions (and the same position in two sessions) differ
	// in about half their bits, with no common prefix.
	hamming := func(a, b Tag) int {
		d := 0
		for i := range a {
			d += bits.OnesCount8(a[i] ^ b[i])
		}
		return d
	}
	var sum, pairs int
	for p := range byPos {
		mean := 0
		for _, g := range byPos[p] {
			mean += int(g[0])
		}
		mean /= len(byPos[p])
		if mean < 127-32 || mean > 128+32 {
			t.Fatalf("position %d: first byte averages %d", p, mean)
		}
		for b := range byPos[p] {
			if p > 0 {
				prev := byPos[p-1][b]
				if bytes.Equal(prev[:4], byPos[p][b][:4]) {
					t.Fatalf("positions %d and %d share a 4-byte prefix", p-1, p)
				}
				sum += hamming(prev, byPos[p][b])
				pairs++
			}
			if b%2 == 1 { // the other session's batch made in the same round
				other := byPos[p][b-1]
				if bytes.Equal(other[:4], byPos[p][b][:4]) {
					t.Fatalf("two sessions share a tag prefix at position %d", p)
				}
				sum += hamming(other, byPos[p][b])
				pairs++
			}
		}
	}
	if avg := float64(sum) / float64(pairs); avg < 62 || avg > 66 {
		t.Fatalf("related tags differ in %.1f bits on average, want about 64", avg)
	}
}

func TestBatchTable(t *testing.T) {
	type session struct {
		user   string
		device uint32
	}
	tab := NewTable[session]()
	ra, sa := legacyPair(t)
	rc, sc := legacyPair(t)
	tab.Add(session{"alice", 1}, ra.Tags())
	tab.Add(session{"carol", 7}, rc.Tags())
	if tab.Len() != 2*Window {
		t.Fatalf("%d tags", tab.Len())
	}
	_, eas := seal(t, sa, 1)
	_, ec := seal(t, sc, 1)
	var ea []byte
	for _, c := range []struct {
		env  []byte
		want session
	}{{eas[0], session{"alice", 1}}, {ec[0], session{"carol", 7}}} {
		g, err := ParseTag(c.env)
		if err != nil {
			t.Fatal(err)
		}
		if k, ok := tab.Lookup(g); !ok || k != c.want {
			t.Fatalf("lookup: %v %v", k, ok)
		}
	}
	// Offers keep the table in step: after three, alice's session holds
	// two batches and the first batch's tags are gone.
	r, s := ra, sa
	for range 3 {
		_, env, err := s.Seal(textContent(alice, bob, 1))
		if err != nil {
			t.Fatal(err)
		}
		if r, _, err = r.Open(bob, env); err != nil {
			t.Fatal(err)
		}
		n, o, d, err := r.Offer()
		if err != nil {
			t.Fatal(err)
		}
		tab.Apply(session{"alice", 1}, d)
		if s, err = s.Accept(o); err != nil {
			t.Fatal(err)
		}
		r = n
	}
	_, ea, _ = s.Seal(textContent(alice, bob, 2))
	if got := tab.Len(); got != MaxEpochs*Window+Window {
		t.Fatalf("%d tags after offers, want %d", got, MaxEpochs*Window+Window)
	}
	g, _ := ParseTag(ea)
	if _, ok := tab.Lookup(g); !ok {
		t.Fatal("newest batch not in the table")
	}
	tab.Remove(session{"alice", 1}, r.Tags())
	if tab.Len() != Window {
		t.Fatalf("%d tags after removing alice", tab.Len())
	}
}

// OpenEncoded must do exactly what decoding, Open and MarshalBinary do:
// the same content and new encoding for every envelope of a batch (the
// seed goes at the first open, NeedsOffer turns at RefillMark), and for a
// replayed, flipped or unknown envelope the same error and no state.
func TestOpenEncodedMatchesOpen(t *testing.T) {
	bothPairs(t, openEncodedMatchesOpen)
}

func openEncodedMatchesOpen(t *testing.T, pair func(testing.TB) (*Receiver, *Sender)) {
	r, s := pair(t)
	_, envs := seal(t, s, Window)
	state := marshal(t, r)
	for i, env := range envs {
		want, wop, err := r.Open(bob, env)
		if err != nil {
			t.Fatal(err)
		}
		before := bytes.Clone(state)
		got, op, due, err := OpenEncoded(state, bob, env)
		if err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
		if !bytes.Equal(state, before) {
			t.Fatalf("envelope %d: OpenEncoded changed its input", i)
		}
		if !bytes.Equal(got, marshal(t, want)) {
			t.Fatalf("envelope %d: new state differs from Open's", i)
		}
		if !equalContent(op.Content, wop.Content) || op.Epoch != wop.Epoch || op.Position != wop.Position {
			t.Fatalf("envelope %d: opened %+v, Open gave %+v", i, op, wop)
		}
		if due != want.NeedsOffer() || due != (i+1 >= RefillMark) {
			t.Fatalf("envelope %d: needs offer %v", i, due)
		}
		// The envelope just opened is a replay under the new state.
		if n, _, _, err := OpenEncoded(got, bob, env); !errors.Is(err, ErrReplay) || n != nil {
			t.Fatalf("envelope %d replayed: %v", i, err)
		}
		flipped := bytes.Clone(env)
		flipped[len(flipped)-1] ^= 1
		if n, _, _, err := OpenEncoded(state, bob, flipped); !errors.Is(err, ErrAuth) || n != nil {
			t.Fatalf("envelope %d flipped: opened", i)
		}
		r, state = want, got
	}
	_, os := pair(t)
	_, stray := seal(t, os, 1)
	if n, _, _, err := OpenEncoded(state, bob, stray[0]); !errors.Is(err, ErrUnknownTag) || n != nil {
		t.Fatalf("unknown tag: %v", err)
	}
	if n, _, _, err := OpenEncoded(nil, bob, envs[0]); !errors.Is(err, ErrUnknownTag) || n != nil {
		t.Fatalf("empty state: %v", err)
	}
}
