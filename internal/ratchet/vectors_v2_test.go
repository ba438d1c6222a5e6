package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"encoding/json"
	"testing"
	"testing/cryptotest"

	"github.com/hush-chat/hush/internal/testkit"
)

const (
	vectorV2Path = "testdata/vectors_v2.json"
	vectorV2Seed = 0x6875736870717232 // "hushpqr2"
)

// vectorV2File is the version 2 known-answer conversation (SPEC §5.12.8).
type vectorV2File struct {
	Comment        string          `json:"comment"`
	Seed           uint64          `json:"seed"`
	SharedSecret   string          `json:"shared_secret"`
	AD             string          `json:"ad"`
	PrekeyPrivate  string          `json:"responder_prekey_private"`
	PrekeyPublic   string          `json:"responder_prekey_public"`
	KEMSeeds       []vectorKEMSeed `json:"kem_seeds"`
	Messages       []vectorMessage `json:"messages"`
	Delivered      []int           `json:"delivered"` // delivery order; the others are lost
	InitiatorState string          `json:"initiator_state"`
	ResponderState string          `json:"responder_state"`
}

type vectorKEMSeed struct {
	Epoch uint32 `json:"epoch"`
	Seed  string `json:"seed"` // the EK side's ML-KEM-768 decapsulation key seed
}

// playV2 is the scripted conversation: two epochs mixed, a lost key chunk
// repeated in the next cycle, a burst delivered in reverse (chunks through
// stored skipped keys).
func playV2(c *conv) []int {
	var order []int
	deliver := func(idx ...int) { c.deliver(idx...); order = append(order, idx...) }
	a := c.send("alice", ekChunks)                           // epoch 1 key, chunks 0..18
	deliver(append(append(a[:3:3], a[4:5]...), a[6:]...)...) // 5 lost, 3 late
	deliver(a[3])
	deliver(c.send("bob", 2)...)   // Bob misses chunk 5: Alice resumes
	deliver(c.send("alice", 6)...) // chunks 0..5 again: Bob encapsulates
	b := c.send("bob", ctChunks)   // epoch 1 ciphertext
	for i := len(b) - 1; i >= 0; i-- {
		deliver(b[i])
	}
	deliver(c.send("alice", 1)...)        // Alice mixes epoch 1
	deliver(c.send("bob", ekChunks)...)   // epoch 2 key
	deliver(c.send("alice", ctChunks)...) // epoch 2 ciphertext
	deliver(c.send("bob", 1)...)          // Bob mixes epoch 2
	deliver(c.send("alice", 1)...)        // epoch 3 begins
	return order
}

func generateVectorsV2(t *testing.T) *vectorV2File {
	cryptotest.SetGlobalRandom(t, vectorV2Seed)
	c := newConv(t, true)
	order := playV2(c)
	if a, b := c.parties["alice"].PQEpoch(), c.parties["bob"].PQEpoch(); a != 3 || b != 3 {
		t.Fatalf("script ends in epochs %d/%d, want 3/3", a, b)
	}
	v := &vectorV2File{
		Comment:       "hush version 2 ratchet (sparse ML-KEM-768) known-answer conversation; see doc/SPEC.md 5.12",
		Seed:          vectorV2Seed,
		SharedSecret:  hex.EncodeToString(c.sk),
		AD:            hex.EncodeToString(c.ad),
		PrekeyPrivate: hex.EncodeToString(c.prekey.Bytes()),
		PrekeyPublic:  hex.EncodeToString(c.prekey.PublicKey().Bytes()),
		Delivered:     order,
	}
	for e := uint32(1); e <= uint32(len(c.seeds)); e++ {
		v.KEMSeeds = append(v.KEMSeeds, vectorKEMSeed{Epoch: e, Seed: hex.EncodeToString(c.seeds[e])})
	}
	keys := c.truth()
	for i, m := range c.sent {
		h := parseRef(m.msg)
		v.Messages = append(v.Messages, vectorMessage{
			Sender:         map[string]string{"alice": "initiator", "bob": "responder"}[m.side],
			RatchetPrivate: hex.EncodeToString(c.keys.priv(h.dh)),
			MessageKey:     hex.EncodeToString(keys[i]),
			Plaintext:      hex.EncodeToString([]byte(m.pt)),
			Message:        hex.EncodeToString(m.msg),
		})
	}
	v.InitiatorState = hex.EncodeToString(marshal(t, c.parties["alice"]))
	v.ResponderState = hex.EncodeToString(marshal(t, c.parties["bob"]))
	return v
}

func TestVectorsV2(t *testing.T) {
	v := generateVectorsV2(t)
	var stored vectorV2File
	if err := json.Unmarshal(testkit.GoldenBytes(t, vectorV2Path, v), &stored); err != nil {
		t.Fatal(err)
	}
	// Walk the stored file with the reference derivation alone: X25519
	// keys and ML-KEM seeds from the file, nothing from State.
	privs := keyBook{}
	for _, m := range stored.Messages {
		p, err := ecdh.X25519().NewPrivateKey(unhex(t, m.RatchetPrivate))
		if err != nil {
			t.Fatal(err)
		}
		privs[hex.EncodeToString(p.PublicKey().Bytes())] = p.Bytes()
	}
	w := newRefWalker(unhex(t, stored.SharedSecret), unhex(t, stored.AD), privs.priv)
	w.lastPub["responder"] = unhex(t, stored.PrekeyPublic)
	for _, s := range stored.KEMSeeds {
		w.seeds[s.Epoch] = unhex(t, s.Seed)
	}
	for i, m := range stored.Messages {
		mk, ok := w.next(t, m.Sender, unhex(t, m.Message))
		if !ok || !bytes.Equal(mk, unhex(t, m.MessageKey)) {
			t.Fatalf("message %d does not open with the stored keys and the spec's derivation", i)
		}
	}
	if w.mixes != 2 || w.blind {
		t.Fatalf("reference walk mixed %d epochs (blind %v), want 2", w.mixes, w.blind)
	}
	// The stored states re-encode to themselves; the responder's still
	// opens the lost message 5 from its stored key.
	for _, enc := range []string{stored.InitiatorState, stored.ResponderState} {
		var s State
		if err := s.UnmarshalBinary(unhex(t, enc)); err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(marshal(t, &s)) != enc {
			t.Fatal("stored state does not re-encode to itself")
		}
	}
	var bob State
	if err := bob.UnmarshalBinary(unhex(t, stored.ResponderState)); err != nil {
		t.Fatal(err)
	}
	decryptOK(t, &bob, unhex(t, stored.Messages[5].Message), string(unhex(t, stored.Messages[5].Plaintext)))
	// The responder's start needs no randomness: it opens the first message.
	prekey, err := ecdh.X25519().NewPrivateKey(unhex(t, stored.PrekeyPrivate))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := InitResponder(unhex(t, stored.SharedSecret), unhex(t, stored.AD), prekey)
	if err != nil {
		t.Fatal(err)
	}
	decryptOK(t, fresh, unhex(t, stored.Messages[0].Message), string(unhex(t, stored.Messages[0].Plaintext)))
}
