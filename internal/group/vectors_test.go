package group

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/hush-chat/hush/internal/testkit"
	"testing"
	"testing/cryptotest"

	"github.com/hush-chat/hush/internal/identity"
)

const (
	vectorPath = "testdata/vectors.json"
	vectorSeed = 0x6875736867727570 // "hushgrup"
)

// vectorFile is a known-answer group history and conversation (hex).
type vectorFile struct {
	Comment       string          `json:"comment"`
	Seed          uint64          `json:"seed"`
	IdentitySeeds []string        `json:"identity_seeds"` // alice, bob, carol
	Changes       []string        `json:"changes"`        // create, approve, promote, remove
	ChangeHashes  []string        `json:"change_hashes"`
	States        []string        `json:"states"` // after each change
	StateHashes   []string        `json:"state_hashes"`
	JoinRequest   string          `json:"join_request"`
	Distribution  string          `json:"distribution"` // alice's chain at epoch 4
	Messages      []vectorMessage `json:"messages"`
	SenderState   string          `json:"sender_state"`
}

type vectorMessage struct {
	Plaintext  string `json:"plaintext"`
	MessageKey string `json:"message_key"`
	Message    string `json:"message"`
}

var vectorTexts = []string{"", "Hello, group.", "Third message, after the rotation."}

func generateVectors(t *testing.T) *vectorFile {
	cryptotest.SetGlobalRandom(t, vectorSeed)
	v := &vectorFile{Comment: "hush group protocol known-answer vectors; see doc/SPEC.md, group section", Seed: vectorSeed}
	alice, bob, carol := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
	for _, u := range []*user{alice, bob, carol} {
		v.IdentitySeeds = append(v.IdentitySeeds, hex.EncodeToString(u.priv.Seed()))
	}
	st, create, err := Create(alice.priv, alice.member(), "vector room", Request, []Member{bob.member(1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	req, err := NewJoinRequest(st.ID(), carol.member(3), carol.priv, 1767225600)
	if err != nil {
		t.Fatal(err)
	}
	v.JoinRequest = hex.EncodeToString(req.Marshal())
	changes := []*Change{create}
	states := []*State{st}
	for _, step := range []struct {
		op     Op
		signer *user
	}{
		{Op{Kind: KindApprove, Request: req.Marshal()}, alice},
		{Op{Kind: KindPromote, Target: "bob", Identity: bob.member().Identity}, alice},
		{Op{Kind: KindRemove, Target: "carol"}, bob},
	} {
		c, next, err := Propose(st, step.signer.name, step.signer.priv, step.op)
		if err != nil {
			t.Fatal(err)
		}
		changes, states, st = append(changes, c), append(states, next), next
	}
	for i, c := range changes {
		h, sh := c.Hash(), states[i].Hash()
		v.Changes = append(v.Changes, hex.EncodeToString(c.Marshal()))
		v.ChangeHashes = append(v.ChangeHashes, hex.EncodeToString(h[:]))
		v.States = append(v.States, hex.EncodeToString(states[i].Marshal()))
		v.StateHashes = append(v.StateHashes, hex.EncodeToString(sh[:]))
	}
	s, err := NewSender(st.ID(), st.Version())
	if err != nil {
		t.Fatal(err)
	}
	v.Distribution = hex.EncodeToString(s.Distribution().Marshal())
	for _, text := range vectorTexts {
		m, err := s.Encrypt([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		v.Messages = append(v.Messages, vectorMessage{Plaintext: hex.EncodeToString([]byte(text)), Message: hex.EncodeToString(m)})
	}
	for i, mk := range referenceOpen(t, v) {
		v.Messages[i].MessageKey = hex.EncodeToString(mk)
	}
	b, _ := s.MarshalBinary()
	v.SenderState = hex.EncodeToString(b)
	return v
}

func TestVectors(t *testing.T) {
	want := testkit.GoldenBytes(t, vectorPath, generateVectors(t))
	var stored vectorFile
	if err := json.Unmarshal(want, &stored); err != nil {
		t.Fatal(err)
	}
	checkStoredVectors(t, &stored)
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkStoredVectors replays the stored history from the changes alone and
// opens the stored messages from the stored distribution alone.
func checkStoredVectors(t *testing.T, v *vectorFile) {
	var st *State
	for i, enc := range v.Changes {
		c, err := ParseChange(unhex(t, enc))
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if h := c.Hash(); hex.EncodeToString(h[:]) != v.ChangeHashes[i] {
			t.Errorf("change %d: hash differs", i)
		}
		if st, err = Apply(st, c); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if !bytes.Equal(st.Marshal(), unhex(t, v.States[i])) {
			t.Errorf("state %d differs", i)
		}
		// The state hash, straight from the spec.
		h := sha256.Sum256(append([]byte("hush/v1 group state\x00"), unhex(t, v.States[i])...))
		if hex.EncodeToString(h[:]) != v.StateHashes[i] {
			t.Errorf("state %d: hash differs from the spec's derivation", i)
		}
	}
	seed := unhex(t, v.IdentitySeeds[0])
	if priv, err := identity.NewIdentityPrivateKey(seed); err != nil || !st.IsAdmin("bob") || st.HasDevice("carol", 3) {
		t.Fatalf("final state wrong (%v)", err)
	} else if m, _ := st.Member("alice"); m.Identity != [32]byte(priv.Public().Bytes()) {
		t.Fatal("alice's identity key differs from her seed")
	}
	// The promote body, from the spec: bytes8(target) || identity (32),
	// right before the signature.
	bobKey, _ := st.Member("bob")
	promote := unhex(t, v.Changes[2])
	if body := append([]byte{5, 3, 'b', 'o', 'b'}, bobKey.Identity[:]...); !bytes.Equal(promote[len(promote)-64-len(body):len(promote)-64], body) {
		t.Error("promote body is not kind || bytes8(target) || identity")
	}
	for i, mk := range referenceOpen(t, v) {
		if hex.EncodeToString(mk) != v.Messages[i].MessageKey {
			t.Errorf("message %d: stored key differs from the derivation", i)
		}
	}
	k := NewKeyring(st.ID())
	d, err := ParseDistribution(unhex(t, v.Distribution))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Add(Address{User: "alice", Device: 1}, d); err != nil {
		t.Fatal(err)
	}
	for i, m := range v.Messages {
		got, err := k.Decrypt(unhex(t, m.Message))
		if err != nil || !bytes.Equal(got.Plaintext, unhex(t, m.Plaintext)) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

// referenceOpen derives each message key from the distribution with the
// spec's formulas (no package helpers), checks the signature, opens each
// message and returns the keys.
func referenceOpen(t testing.TB, v *vectorFile) [][]byte {
	d := unhex(t, v.Distribution)
	pub, ck := d[25:57], d[61:93]
	var keys [][]byte
	for i, vm := range v.Messages {
		msg := unhex(t, vm.Message)
		if !ed25519.Verify(pub, append([]byte("hush/v1 group message\x00"), msg[:len(msg)-64]...), msg[len(msg)-64:]) {
			t.Fatalf("message %d: signature does not verify", i)
		}
		mac := func(b byte) []byte { h := hmac.New(sha256.New, ck); h.Write([]byte{b}); return h.Sum(nil) }
		mk := mac(0x01)
		ck = mac(0x02)
		kn, _ := hkdf.Key(sha256.New, mk, make([]byte, 32), "hush/v1 group message key", 44)
		block, _ := aes.NewCipher(kn[:32])
		gcm, _ := cipher.NewGCM(block)
		pt, err := gcm.Open(nil, kn[32:], msg[61:len(msg)-64], msg[:61])
		if err != nil || !bytes.Equal(pt, unhex(t, vm.Plaintext)) {
			t.Fatalf("message %d does not open with the spec's derivation: %v", i, err)
		}
		keys = append(keys, mk)
	}
	return keys
}
