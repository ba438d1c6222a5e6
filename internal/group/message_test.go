package group

import (
	"bytes"
	"testing"
)

func pair(t *testing.T) (alice, bob *user) {
	alice, bob = newUser(t, "alice"), newUser(t, "bob")
	newGroup(t, Private, alice, bob)
	return alice, bob
}

// Flipping any bit of any byte of a group message is detected, and the
// refused message changes nothing: the original still opens afterwards.
func TestTamperEveryByte(t *testing.T) {
	alice, bob := pair(t)
	msg := alice.send(t, "tamper with me")
	for i := range msg {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(msg)
			bad[i] ^= bit
			if _, err := bob.ring.Decrypt(bad); err == nil {
				t.Fatalf("security regression: byte %d flipped (%#x) was accepted", i, bit)
			}
		}
	}
	for _, n := range []int{0, 1, headerSize, len(msg) - 1} {
		if _, err := bob.ring.Decrypt(msg[:n]); err == nil {
			t.Fatalf("security regression: message truncated to %d bytes was accepted", n)
		}
	}
	if _, err := bob.ring.Decrypt(append(bytes.Clone(msg), 0)); err == nil {
		t.Fatal("security regression: trailing byte accepted")
	}
	bob.read(t, alice, msg, "tamper with me")
}

// A member cannot pass off a message as another's: it holds the chain key
// but not the sender's signing key.
func TestMemberCannotImpersonateSender(t *testing.T) {
	alice, bob := pair(t)
	carol := newUser(t, "carol")
	carol.join(t, alice.log.Current())
	d := alice.sender.Distribution()
	// Carol, given alice's chain, seals a message under it with her own
	// signing key in place of alice's.
	forger := &Sender{group: d.GroupID, epoch: d.Epoch, priv: carol.mustSender(t).priv, keyID: d.KeyID, chain: d.ChainKey, iteration: d.Iteration}
	_, err := bob.ring.Decrypt(forger.mustEncrypt(t, "I am alice"))
	wantErr(t, err, ErrAuth)
	bob.read(t, alice, alice.send(t, "real"), "real")
}

func (u *user) mustSender(t *testing.T) *Sender {
	s, err := NewSender(ID{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Sender) mustEncrypt(t *testing.T, text string) []byte {
	m, err := s.Encrypt([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReplayAndOutOfOrder(t *testing.T) {
	alice, bob := pair(t)
	var msgs [][]byte
	for range 4 {
		msgs = append(msgs, alice.send(t, "m"))
	}
	for _, i := range []int{2, 0, 3, 1} {
		bob.read(t, alice, msgs[i], "m")
	}
	for i, m := range msgs {
		_, err := bob.ring.Decrypt(m)
		if err == nil {
			t.Fatalf("security regression: replay of message %d accepted", i)
		}
		wantErr(t, err, ErrReplay)
	}
	if bob.ring.skipped.len() != 0 {
		t.Fatalf("%d skipped keys left after every message arrived", bob.ring.skipped.len())
	}
	// A replayed distribution cannot rewind the chain.
	err := bob.ring.Add(alice.addr(), alice.sender.Distribution())
	wantErr(t, err, ErrKnownKey)
}

func TestTooFarAheadAndEviction(t *testing.T) {
	alice, bob := pair(t)
	alice.sender.iteration = MaxSkip + 1
	_, err := bob.ring.Decrypt(alice.send(t, "far"))
	wantErr(t, err, ErrTooFarAhead)

	alice2, bob2 := pair(t)
	first := alice2.send(t, "first")
	for range MaxSkip - 1 {
		alice2.send(t, "skipped")
	}
	bob2.read(t, alice2, alice2.send(t, "last"), "last")
	if bob2.ring.skipped.len() != MaxSkip {
		t.Fatalf("%d skipped keys, want %d", bob2.ring.skipped.len(), MaxSkip)
	}
	bob2.read(t, alice2, alice2.send(t, "one more"), "one more")
	bob2.read(t, alice2, first, "first")
}

func TestSenderLimits(t *testing.T) {
	alice, _ := pair(t)
	_, err := alice.sender.Encrypt(make([]byte, MaxPlaintext+1))
	wantErr(t, err, ErrTooLarge)
	alice.sender.iteration = reservedIteration
	_, err = alice.sender.Encrypt(nil)
	wantErr(t, err, ErrExhausted)
}

func TestWrongGroupAndUnknownKey(t *testing.T) {
	alice, bob := pair(t)
	other, _ := pair(t)
	_, err := bob.ring.Decrypt(other.send(t, "elsewhere"))
	wantErr(t, err, ErrWrongGroup)
	err = bob.ring.Add(other.addr(), other.sender.Distribution())
	wantErr(t, err, ErrWrongGroup)
	bob.ring.Prune(alice.sender.Epoch() + 1)
	_, err = bob.ring.Decrypt(alice.send(t, "pruned"))
	wantErr(t, err, ErrUnknownKey)
}

func TestEncodingsRoundTrip(t *testing.T) {
	alice, _ := pair(t)
	st := alice.log.Current()
	got, err := ParseState(st.Marshal())
	if err != nil || got.Hash() != st.Hash() {
		t.Fatalf("state round trip: %v", err)
	}
	b, _ := alice.sender.MarshalBinary()
	var s Sender
	if err := s.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != alice.sender.KeyID() || !bytes.Equal(s.mustEncrypt(t, "x"), alice.sender.mustEncrypt(t, "x")) {
		t.Fatal("restored sender differs")
	}
	if _, err := ParseDistribution(alice.sender.Distribution().Marshal()[1:]); err == nil {
		t.Fatal("truncated distribution accepted")
	}
}

// Security regression: mallory, a member, hands carol bob's key id before
// bob's own distribution arrives. Bob's chain is still stored, his
// messages open as his, and Claimants names both devices. If mallory
// copied bob's chain key too, carol cannot tell the sender and refuses the
// message rather than show it as mallory's.
func TestSecurityRegressionCopiedKeyIDDoesNotShadowRealChain(t *testing.T) {
	for _, copyKey := range []bool{false, true} {
		alice, bob, carol, mallory := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol"), newUser(t, "mallory")
		newGroup(t, Private, alice, bob, mallory)
		mustReceive(t, alice.propose(t, Op{Kind: KindAdd, Member: carol.member()}), alice, bob, mallory)
		carol.join(t, alice.log.Current())
		dist := bob.sender.Distribution()
		fake := *dist
		if !copyKey {
			fake.ChainKey = [32]byte{0x66}
		}
		if err := carol.ring.Add(mallory.addr(), &fake); err != nil {
			t.Fatal(err)
		}
		if err := carol.ring.Add(bob.addr(), dist); err != nil {
			t.Fatalf("security regression: bob's chain refused after mallory's copy of its key id: %v", err)
		}
		if got := carol.ring.Claimants(dist.KeyID); len(got) != 2 || got[0] != bob.addr() || got[1] != mallory.addr() {
			t.Fatalf("Claimants = %v", got)
		}
		msg := bob.send(t, "from bob")
		if !copyKey {
			carol.read(t, bob, msg, "from bob")
			continue
		}
		got, err := carol.ring.Decrypt(msg)
		if err == nil {
			t.Fatalf("security regression: a message under a key id two members claim was attributed to %v", got.From)
		}
		wantErr(t, err, ErrAuth)
	}
}
