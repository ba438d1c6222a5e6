package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"testing"
)

// conv is a two-party conversation that records, in send order, every
// message and every X25519 key pair, and delivers in order unless told
// otherwise.
type conv struct {
	t       testing.TB
	sk, ad  []byte
	prekey  *ecdh.PrivateKey
	parties map[string]*State
	keys    keyBook
	seeds   map[uint32][]byte // each epoch's ML-KEM seed, seen in the EK side's state
	sent    []sentMsg
}

type sentMsg struct {
	side string
	msg  []byte
	pt   string
}

func newConv(t testing.TB, v2 bool) *conv {
	c := &conv{t: t, sk: make([]byte, 32), ad: []byte("hush pq test session"), keys: keyBook{}, seeds: map[uint32][]byte{}, parties: map[string]*State{}}
	rand.Read(c.sk)
	var err error
	if c.prekey, err = ecdh.X25519().GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	init := InitInitiator
	if !v2 {
		init = InitInitiatorV1
	}
	if c.parties["alice"], err = init(c.sk, c.ad, c.prekey.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if c.parties["bob"], err = InitResponder(c.sk, c.ad, c.prekey); err != nil {
		t.Fatal(err)
	}
	c.keys.note(c.parties["bob"])
	return c
}

// send makes side send n messages and returns their indexes.
func (c *conv) send(side string, n int) []int {
	var idx []int
	for range n {
		pt := fmt.Sprintf("%s message %d", side, len(c.sent))
		m := encrypt(c.t, c.parties[side], pt)
		c.keys.note(c.parties[side])
		c.noteSeed(c.parties[side])
		idx = append(idx, len(c.sent))
		c.sent = append(c.sent, sentMsg{side, m, pt})
	}
	return idx
}

func (c *conv) noteSeed(s *State) {
	if q := s.pqs(); q != nil && (q.phase == pqSendKey || q.phase == pqCollectCT) {
		c.seeds[q.epoch] = bytes.Clone(q.seed[:])
	}
}

func (c *conv) deliver(idx ...int) {
	for _, i := range idx {
		m := c.sent[i]
		decryptOK(c.t, c.parties[other2(m.side)], m.msg, m.pt)
	}
}

// round: each side sends n messages, delivered in order.
func (c *conv) round(n int) {
	c.deliver(c.send("alice", n)...)
	c.deliver(c.send("bob", n)...)
}

// truth re-derives every message key from the start with full knowledge.
func (c *conv) truth() [][]byte {
	c.t.Helper()
	w := newRefWalker(c.sk, c.ad, c.keys.priv)
	w.lastPub["bob"] = c.prekey.PublicKey().Bytes()
	w.seeds = c.seeds
	var keys [][]byte
	for i, m := range c.sent {
		mk, ok := w.next(c.t, m.side, m.msg)
		if !ok {
			c.t.Fatalf("message %d does not open with the spec's derivation", i)
		}
		keys = append(keys, mk)
	}
	return keys
}

// attacker builds the walker of an adversary holding a copy of st (stolen
// from side) and every X25519 private key.
func attacker(c *conv, side string, st *State) *refWalker {
	w := newRefWalker(st.rk[:], st.ad, c.keys.priv)
	w.lastPub[side] = bytes.Clone(st.dhsPub[:])
	w.lastPub[other2(side)] = bytes.Clone(st.dhrPub[:])
	if st.sending {
		w.chains[side] = &refChain{ck: bytes.Clone(st.cks[:]), n: st.ns}
	}
	if st.receiving {
		w.chains[other2(side)] = &refChain{ck: bytes.Clone(st.ckr[:]), n: st.nr}
	}
	if q := st.pqs(); q != nil {
		w.mixes = q.epoch - 1
		switch q.phase {
		case pqSendKey, pqCollectCT:
			w.seeds[q.epoch] = bytes.Clone(q.seed[:])
			if q.phase == pqCollectCT {
				w.cts[q.epoch] = bytes.Clone(q.buf[:ctSize])
			}
		case pqMix, pqSendCT:
			w.secrets[q.epoch] = bytes.Clone(q.ss[:])
		}
	}
	return w
}

// Security regression (post-compromise security against a quantum
// adversary): an adversary who stole Alice's state and can break X25519
// reads every message until a post-quantum exchange made after the theft
// is mixed into the root key, and none after, in either direction. In a
// version 1 session the same adversary never loses track.
func TestPostCompromisePQ(t *testing.T) {
	c := newConv(t, true)
	c.round(3)
	c.round(3) // Alice is the EK side of epoch 1, key chunks under way
	alice := c.parties["alice"]
	if alice.pq.phase != pqSendKey || alice.pq.epoch != 1 {
		t.Fatalf("setup: alice in %v of epoch %d", alice.pq.phase, alice.pq.epoch)
	}
	stolen := alice.Clone()
	theft := len(c.sent)

	// Epoch 1 completes with the stolen key; epoch 2 (Bob's key, Alice's
	// fresh encapsulation) heals; keep talking after.
	healAt := -1
	for r := 0; healAt < 0 || r < 60; r++ {
		for _, side := range []string{"alice", "bob"} {
			before := c.parties[side].PQEpoch()
			i := c.send(side, 3)
			if healAt < 0 && before == 2 && c.parties[side].PQEpoch() == 3 {
				healAt = i[0] // the first message of the chain that mixed epoch 2
			}
			c.deliver(i...)
		}
		if r > 200 {
			t.Fatal("epoch 2 never completed")
		}
	}
	truth := c.truth()
	w := attacker(c, "alice", stolen)
	steps := 0
	for i := theft; i < len(c.sent); i++ {
		m := c.sent[i]
		mk, opens := w.next(t, m.side, m.msg)
		same := bytes.Equal(mk, truth[i])
		if i < healAt {
			if !same || !opens {
				t.Fatalf("message %d (before healing): attacker's key differs; the attacker model is too weak", i)
			}
			if parseRef(m.msg).n == 0 {
				steps++
			}
			continue
		}
		if same || opens {
			t.Fatalf("message %d of %d (healed at %d): the attacker still derives the key", i, len(c.sent), healAt)
		}
	}
	// The classical ratchet stepped many times in between without healing.
	if steps < 10 {
		t.Fatalf("only %d DH steps before healing; the test shows nothing about X25519", steps)
	}
	t.Logf("healed at message %d, %d messages and %d DH steps after the theft", healAt, healAt-theft, steps)
	if !w.blind {
		t.Fatal("the attacker never mixed an unknown secret")
	}

	// Control: in a version 1 session the same adversary never loses track.
	c1 := newConv(t, false)
	c1.round(3)
	stolen1 := c1.parties["alice"].Clone()
	theft1 := len(c1.sent)
	for range 40 {
		c1.round(3)
	}
	truth1 := c1.truth()
	w1 := attacker(c1, "alice", stolen1)
	for i := theft1; i < len(c1.sent); i++ {
		if mk, opens := w1.next(t, c1.sent[i].side, c1.sent[i].msg); !bytes.Equal(mk, truth1[i]) || !opens {
			t.Fatalf("version 1 control: message %d not derived by the attacker", i)
		}
	}
}

// Chunks arrive shuffled, one is lost and its repeat arrives in the next
// cycle, a late message carries a stale chunk: both epochs still complete
// and every message opens exactly once.
func TestPQReorderAndLossAcrossChunks(t *testing.T) {
	c := newConv(t, true)
	rng := mrand.New(mrand.NewPCG(1, 2))
	keyMsgs := c.send("alice", ekChunks)
	rng.Shuffle(len(keyMsgs), func(i, j int) { keyMsgs[i], keyMsgs[j] = keyMsgs[j], keyMsgs[i] })
	c.deliver(keyMsgs...)
	if q := c.parties["bob"].pq; q.phase != pqSendCT || q.epoch != 1 {
		t.Fatalf("bob after shuffled key: %v epoch %d", q.phase, q.epoch)
	}
	ctMsgs := c.send("bob", ctChunks)
	if c.parties["bob"].pq.pause != pqPaused {
		t.Fatal("bob did not pause after a whole cycle")
	}
	lost := ctMsgs[7]
	shuffled := append([]int(nil), ctMsgs[:7]...)
	shuffled = append(shuffled, ctMsgs[8:]...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	c.deliver(shuffled...)
	if q := c.parties["alice"].pq; q.phase != pqCollectCT || q.have != fullMask(ChunkCiphertext)&^(1<<7) {
		t.Fatalf("alice: %v have %b", q.phase, q.have)
	}
	c.deliver(c.send("alice", 1)...) // Alice still talks: Bob resumes
	again := c.send("bob", 8)        // chunks 0..7 of the second cycle
	c.deliver(again...)
	if q := c.parties["alice"].pq; q.phase != pqMix {
		t.Fatalf("alice after the repeat: %v", q.phase)
	}
	c.deliver(lost) // late, stale chunk: opens, changes nothing PQ
	if q := c.parties["alice"].pq; q.phase != pqMix {
		t.Fatalf("alice after the late chunk: %v", q.phase)
	}
	c.deliver(c.send("alice", 1)...) // the mixing step
	if a, b := c.parties["alice"].PQEpoch(), c.parties["bob"].PQEpoch(); a != 2 || b != 2 {
		t.Fatalf("epochs after mixing: alice %d bob %d", a, b)
	}
	for range 40 {
		c.round(1)
	}
	if a, b := c.parties["alice"].PQEpoch(), c.parties["bob"].PQEpoch(); a != 3 || b != 3 {
		t.Fatalf("epochs after the second exchange: alice %d bob %d", a, b)
	}
	// Every message of the conversation opens with the spec's derivation.
	c.truth()
	for _, m := range c.sent {
		refused(t, c.parties[other2(m.side)], m.msg, isReplayOrRetired(c.parties[other2(m.side)], m.msg), "replay")
	}
}

// Security regression: every byte of each kind of post-quantum message
// (key chunk completing the key, ciphertext chunk, the one completing the
// ciphertext, an ack, a mixing step) flipped is refused with the state
// unchanged, and the genuine message then works.
func TestPQTamperEveryByte(t *testing.T) {
	c := newConv(t, true)
	keys := c.send("alice", ekChunks)
	c.deliver(keys[:ekChunks-1]...)
	tamperAll(t, c.parties["bob"], c.sent[keys[ekChunks-1]].msg, "message completing the key")
	c.deliver(keys[ekChunks-1])
	cts := c.send("bob", ctChunks)
	tamperAll(t, c.parties["alice"], c.sent[cts[0]].msg, "first ciphertext chunk")
	c.deliver(cts[:ctChunks-1]...)
	c.deliver(c.send("alice", 1)...) // Alice steps before the last chunk: no mix yet
	tamperAll(t, c.parties["alice"], c.sent[cts[ctChunks-1]].msg, "message completing the ciphertext")
	c.deliver(cts[ctChunks-1])
	ack := c.send("alice", 2) // same chain: no step to mix at, so acks
	if parseRef(c.sent[ack[0]].msg).kind != ChunkAck {
		t.Fatal("no ack")
	}
	tamperAll(t, c.parties["bob"], c.sent[ack[0]].msg, "ack")
	c.deliver(ack...)
	c.deliver(c.send("bob", 1)...)
	mix := c.send("alice", 1)
	if !parseRef(c.sent[mix[0]].msg).mixed {
		t.Fatal("no mixing step")
	}
	tamperAll(t, c.parties["bob"], c.sent[mix[0]].msg, "mixing step")
	c.deliver(mix...)
	if c.parties["bob"].PQEpoch() != 2 {
		t.Fatal("bob did not mix")
	}
}

// overhead plays a 1,000-message conversation and returns the average
// bytes per message beyond a version 1 message of the same plaintext, and
// the epochs completed.
func overhead(t testing.TB, pattern func(i int) string) (float64, uint32) {
	c := newConv(t, true)
	var extra int
	n := 0
	queue := map[string][]int{}
	for i := range 1000 {
		side := pattern(i)
		// Deliver everything the other side sent before answering.
		c.deliver(queue[other2(side)]...)
		queue[other2(side)] = nil
		j := c.send(side, 1)[0]
		queue[side] = append(queue[side], j)
		extra += len(c.sent[j].msg) - (headerSize + len(c.sent[j].pt) + tagSize)
		n++
	}
	return float64(extra) / float64(n), max(1, min(c.parties["alice"].PQEpoch(), c.parties["bob"].PQEpoch())) - 1
}

// The cost in bytes of the post-quantum ratchet over 1,000 messages stays
// within the goal of 100 bytes per message on average, for a ping-pong
// conversation, one-sided bursts, and one side only.
func TestPQBytesPerMessage(t *testing.T) {
	patterns := []struct {
		name      string
		side      func(i int) string
		minEpochs uint32
	}{
		{"ping-pong", func(i int) string { return []string{"alice", "bob"}[i%2] }, 10},
		{"bursts of 50", func(i int) string { return []string{"alice", "bob"}[(i/50)%2] }, 5},
		{"bursts 90/10", func(i int) string {
			if i%100 < 90 {
				return "alice"
			}
			return "bob"
		}, 3},
		{"one side", func(int) string { return "alice" }, 0},
	}
	for _, p := range patterns {
		avg, epochs := overhead(t, p.side)
		t.Logf("%-13s %.1f extra bytes per message, %d post-quantum epochs mixed", p.name, avg, epochs)
		if avg > 100 {
			t.Errorf("%s: %.1f extra bytes per message, goal 100", p.name, avg)
		}
		if epochs < p.minEpochs {
			t.Errorf("%s: %d epochs mixed, want at least %d", p.name, epochs, p.minEpochs)
		}
	}
}

// A version 1 session moves to version 2 when one party calls Upgrade (or
// both do), its post-quantum exchanges then complete, and from then on a
// version 1 DH step is refused as a downgrade with the state unchanged.
func TestUpgradeFromVersion1(t *testing.T) {
	for _, both := range []bool{false, true} {
		c := newConv(t, false)
		c.round(2)
		if c.parties["alice"].Version() != 1 || c.parties["bob"].Version() != 1 {
			t.Fatal("version 1 session reports version 2")
		}
		if m := c.sent[len(c.sent)-1].msg; m[0] != messageV1 {
			t.Fatal("version 1 session sent a version 2 message")
		}
		c.parties["bob"].Upgrade()
		if both {
			c.parties["alice"].Upgrade()
		}
		for range 45 {
			c.round(1)
		}
		a, b := c.parties["alice"], c.parties["bob"]
		if a.Version() != 2 || b.Version() != 2 || a.PQEpoch() < 2 || b.PQEpoch() < 2 {
			t.Fatalf("after upgrade (both %v): versions %d/%d, epochs %d/%d", both, a.Version(), b.Version(), a.PQEpoch(), b.PQEpoch())
		}
		c.truth()

		// A forged downgrade: Alice's keys, a new chain, version 1 format.
		down := a.Clone()
		down.pq, down.v2, down.sendV2, down.mixed, down.sending = pqState{}, false, false, false, false
		m, err := down.Encrypt([]byte("downgrade"))
		if err != nil {
			t.Fatal(err)
		}
		if m[0] != messageV1 {
			t.Fatal("downgrade test did not build a version 1 message")
		}
		refused(t, b, m, isAuth, "version 1 step after version 2")
	}
}
