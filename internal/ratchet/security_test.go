package ratchet

import (
	"errors"
	"testing"
)

// Security regression: a single flipped byte anywhere in a message, in each
// of the three ways a message is read (new DH step, current chain, stored
// skipped key), is refused and leaves the receiver's state untouched.
func TestTamperEveryByteIsRefused(t *testing.T) {
	alice, bob := newPair(t)
	pt := "a realistic message of some length, long enough to span GCM blocks: 0123456789"
	step := encrypt(t, alice, pt)    // n=0 of a new chain: Bob does a DH step
	skip := encrypt(t, alice, pt)    // n=1, delivered after n=2: a skipped key
	current := encrypt(t, alice, pt) // n=2

	tamperAll(t, bob, step, "DH step message")
	decryptOK(t, bob, step, pt)
	tamperAll(t, bob, current, "current chain message")
	decryptOK(t, bob, current, pt)
	if bob.skipped.len() != 1 {
		t.Fatalf("skipped keys = %d, want 1", bob.skipped.len())
	}
	tamperAll(t, bob, skip, "skipped-key message")
	decryptOK(t, bob, skip, pt)
}

func tamperAll(t *testing.T, s *State, msg []byte, what string) {
	t.Helper()
	for i := range msg {
		for _, mask := range []byte{0x01, 0x80} {
			bad := append([]byte(nil), msg...)
			bad[i] ^= mask
			refused(t, s, bad, isRefusal, what)
		}
	}
	// Truncation and extension are tampering too.
	refused(t, s, msg[:len(msg)-1], isRefusal, what+" truncated")
	refused(t, s, append(append([]byte(nil), msg...), 0), isRefusal, what+" extended")
}

// Security regression: every delivered message, replayed, is refused with
// ErrReplay and changes nothing, whether its key came from the current
// chain, a retired chain or the skipped store.
func TestReplayIsRefused(t *testing.T) {
	alice, bob := newPair(t)
	var toBob, toAlice [][]byte
	for round := range 6 {
		var out [][]byte
		for i := range 3 {
			out = append(out, encrypt(t, alice, label("a", round*3+i)))
		}
		// Deliver out of order: the last first, so the others are skipped keys.
		for _, i := range []int{2, 0, 1} {
			decryptOK(t, bob, out[i], label("a", round*3+i))
		}
		toBob = append(toBob, out...)
		m := encrypt(t, bob, label("b", round))
		decryptOK(t, alice, m, label("b", round))
		toAlice = append(toAlice, m)
	}
	for _, m := range toBob {
		refused(t, bob, m, isReplay, "replay to Bob")
	}
	for _, m := range toAlice {
		refused(t, alice, m, isReplay, "replay to Alice")
	}
}

// Security regression: a header that claims a number more than MaxSkip
// ahead cannot make the receiver derive or store keys.
func TestTooFarAheadIsRefused(t *testing.T) {
	alice, bob := newPair(t)
	decryptOK(t, bob, encrypt(t, alice, "first"), "first")
	var run [][]byte
	for i := range MaxSkip + 2 {
		run = append(run, encrypt(t, alice, label("a", i)))
	}
	// bob.nr is 1; run[i] has n = i+1.
	refused(t, bob, run[MaxSkip+1], isAhead, "current chain, MaxSkip+1 ahead")
	decryptOK(t, bob, run[MaxSkip], label("a", MaxSkip))
	if bob.skipped.len() != MaxSkip {
		t.Fatalf("skipped = %d, want %d", bob.skipped.len(), MaxSkip)
	}

	// A new chain whose pn leaves more than MaxSkip keys of the old chain.
	alice2, bob2 := newPair(t)
	decryptOK(t, bob2, encrypt(t, alice2, "first"), "first")
	for i := range MaxSkip + 1 {
		encrypt(t, alice2, label("lost", i))
	}
	decryptOK(t, alice2, encrypt(t, bob2, "reply"), "reply")
	refused(t, bob2, encrypt(t, alice2, "new chain"), isAhead, "pn too far ahead")

	// A new chain whose own n is more than MaxSkip.
	alice3, bob3 := newPair(t)
	for range MaxSkip + 1 {
		encrypt(t, alice3, "lost")
	}
	refused(t, bob3, encrypt(t, alice3, "late"), isAhead, "new chain n too far ahead")
}

// The skipped-key store never holds more than MaxStoredSkipped keys and
// evicts the oldest first.
func TestSkippedStoreIsBoundedFIFO(t *testing.T) {
	alice, bob := newPair(t)
	var run [][]byte
	for i := range 2500 {
		run = append(run, encrypt(t, alice, label("a", i)))
	}
	decryptOK(t, bob, run[2000], label("a", 2000)) // stores 0..1999
	decryptOK(t, bob, run[2400], label("a", 2400)) // stores 2001..2399, evicts 0..398
	if bob.skipped.len() != MaxStoredSkipped {
		t.Fatalf("skipped = %d, want %d", bob.skipped.len(), MaxStoredSkipped)
	}
	refused(t, bob, run[0], isReplay, "evicted key")
	refused(t, bob, run[398], isReplay, "evicted key")
	decryptOK(t, bob, run[399], label("a", 399))
	decryptOK(t, bob, run[2399], label("a", 2399))
	// The encoding lists the keys oldest first.
	var first skipID
	bob.skipped.each(func(id skipID, _ *[keySize]byte) {
		if first == (skipID{}) {
			first = id
		}
	})
	if first.n != 400 {
		t.Fatalf("oldest stored key n = %d, want 400", first.n)
	}
	// Many removals from the middle keep the FIFO slice bounded.
	for i := 401; i < 2399; i++ {
		if i != 2000 {
			decryptOK(t, bob, run[i], label("a", i))
		}
	}
	if bob.skipped.len() != 1 || len(bob.skipped.order) > 2*1+64 {
		t.Fatalf("after draining: %d keys, %d slots", bob.skipped.len(), len(bob.skipped.order))
	}
}

// Security regression (forward secrecy): once the session has moved on, a
// copy of the receiver's current state opens none of the messages it
// already opened.
func TestForwardSecrecy(t *testing.T) {
	alice, bob := newPair(t)
	var seen [][]byte
	for round := range 5 {
		for i := range 3 {
			m := encrypt(t, alice, label("a", round*3+i))
			decryptOK(t, bob, m, label("a", round*3+i))
			seen = append(seen, m)
		}
		decryptOK(t, alice, encrypt(t, bob, "ack"), "ack")
	}
	stolen := bob.Clone()
	for i, m := range seen {
		if _, err := stolen.Decrypt(m); err == nil {
			t.Fatalf("stolen state opened already-read message %d", i)
		}
	}
}

// Security regression (post-compromise security): a copy of Alice's state
// stolen at time T reads Bob's current chain, but after a DH ratchet step
// in each direction it reads nothing new, and Bob refuses what it forges.
func TestPostCompromiseSecurity(t *testing.T) {
	alice, bob := newPair(t)
	decryptOK(t, bob, encrypt(t, alice, "hello"), "hello")
	decryptOK(t, alice, encrypt(t, bob, "hi"), "hi")

	stolen := alice.Clone() // time T

	m := encrypt(t, bob, "still readable")
	decryptOK(t, alice, m, "still readable")
	decryptOK(t, stolen, m, "still readable") // same chain: the thief reads it

	// Alice ratchets (fresh key), Bob ratchets back.
	decryptOK(t, bob, encrypt(t, alice, "alice steps"), "alice steps")
	healed := encrypt(t, bob, "bob steps")
	decryptOK(t, alice, healed, "bob steps")
	if _, err := stolen.Decrypt(healed); !errors.Is(err, ErrAuth) {
		t.Fatalf("stolen state after healing: %v, want ErrAuth", err)
	}
	for i := range 3 {
		m := encrypt(t, bob, label("b", i))
		decryptOK(t, alice, m, label("b", i))
		if _, err := stolen.Decrypt(m); err == nil {
			t.Fatal("stolen state read a message after healing")
		}
	}
	// The thief's forgeries in Alice's name are refused too.
	forged, err := stolen.Encrypt([]byte("forged"))
	if err != nil {
		t.Fatal(err)
	}
	refused(t, bob, forged, isAuth, "forgery from a stolen state")
}

// Retired chains are remembered up to MaxPastChains; a replay from an older
// chain is still refused, with ErrAuth.
func TestPastChainsBounded(t *testing.T) {
	alice, bob := newPair(t)
	var toBob [][]byte
	for i := range MaxPastChains + 6 {
		m := encrypt(t, alice, label("a", i))
		decryptOK(t, bob, m, label("a", i))
		toBob = append(toBob, m)
		decryptOK(t, alice, encrypt(t, bob, "ack"), "ack")
	}
	if bob.past.len() != MaxPastChains {
		t.Fatalf("past chains = %d, want %d", bob.past.len(), MaxPastChains)
	}
	refused(t, bob, toBob[0], isAuth, "replay from a forgotten chain")
	refused(t, bob, toBob[len(toBob)-2], isReplay, "replay from a remembered chain")
	refused(t, bob, toBob[len(toBob)-1], isReplay, "replay from the current chain")
}
