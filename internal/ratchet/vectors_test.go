package ratchet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/hush-chat/hush/internal/testkit"
	"testing"
	"testing/cryptotest"
)

const (
	vectorPath = "testdata/vectors.json"
	vectorSeed = 0x6875736872617463 // "hushratc"
)

// vectorFile is the known-answer conversation. All byte strings are hex.
type vectorFile struct {
	Comment        string          `json:"comment"`
	Seed           uint64          `json:"seed"`
	SharedSecret   string          `json:"shared_secret"`
	AD             string          `json:"ad"`
	PrekeyPrivate  string          `json:"responder_prekey_private"`
	PrekeyPublic   string          `json:"responder_prekey_public"`
	Messages       []vectorMessage `json:"messages"`
	Events         []string        `json:"events"`
	InitiatorState string          `json:"initiator_state"`
	ResponderState string          `json:"responder_state"`
}

type vectorMessage struct {
	Sender         string `json:"sender"`          // "initiator" or "responder"
	RatchetPrivate string `json:"ratchet_private"` // the sender's ratchet key that sealed it
	MessageKey     string `json:"message_key"`     // mk, from the chain KDF
	Plaintext      string `json:"plaintext"`
	Message        string `json:"message"`
}

// The conversation: who sends what, then the order of sends and deliveries
// (a delivery goes to the party that did not send). m1 is never delivered
// (the responder keeps its key), m2 arrives after the chain moved on, m6 is
// never delivered (the initiator keeps its key).
var (
	vectorSends = []struct{ sender, text string }{
		{"initiator", "Hi Bob, it's Alice."},
		{"initiator", "This one is lost in transit."},
		{"initiator", "This one arrives late."},
		{"responder", "Hi Alice!"},
		{"initiator", "New chain after your reply."},
		{"initiator", "Second on the new chain."},
		{"responder", "Bob's second chain, first message (never delivered)."},
		{"responder", "Bob's second chain, second message."},
	}
	vectorEvents = []string{
		"send 0", "send 1", "send 2", "deliver 0", "send 3", "deliver 3",
		"send 4", "deliver 4", "deliver 2", "send 5", "deliver 5",
		"send 6", "send 7", "deliver 7",
	}
)

// generateVectors plays the conversation of a version 1 session: the
// vectors record the classical ratchet that earlier releases speak.
func generateVectors(t *testing.T) *vectorFile {
	cryptotest.SetGlobalRandom(t, vectorSeed)
	sk := make([]byte, 32)
	rand.Read(sk)
	prekey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ad := []byte("hush/v1 test vector session AD")
	v := &vectorFile{
		Comment:       "hush Double Ratchet known-answer conversation; see doc/SPEC.md, ratchet section",
		Seed:          vectorSeed,
		SharedSecret:  hex.EncodeToString(sk),
		AD:            hex.EncodeToString(ad),
		PrekeyPrivate: hex.EncodeToString(prekey.Bytes()),
		PrekeyPublic:  hex.EncodeToString(prekey.PublicKey().Bytes()),
		Events:        vectorEvents,
	}
	parties := map[string]*State{}
	parties["initiator"], err = InitInitiatorV1(sk, ad, prekey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	parties["responder"], err = InitResponder(sk, ad, prekey)
	if err != nil {
		t.Fatal(err)
	}
	var sent [][]byte
	for _, ev := range vectorEvents {
		var op string
		var i int
		if _, err := fmt.Sscanf(ev, "%s %d", &op, &i); err != nil {
			t.Fatal(err)
		}
		switch op {
		case "send":
			if i != len(sent) {
				t.Fatalf("script sends out of order at %q", ev)
			}
			s := vectorSends[i]
			m := encrypt(t, parties[s.sender], s.text)
			sent = append(sent, m)
			v.Messages = append(v.Messages, vectorMessage{
				Sender:         s.sender,
				RatchetPrivate: hex.EncodeToString(parties[s.sender].dhs.Bytes()),
				Plaintext:      hex.EncodeToString([]byte(s.text)),
				Message:        hex.EncodeToString(m),
			})
		case "deliver":
			decryptOK(t, parties[other(vectorSends[i].sender)], sent[i], vectorSends[i].text)
		}
	}
	// Message keys come from the independent reference below, so the file
	// records what the spec derives, checked against what State sealed.
	for i, mk := range referenceKeys(t, v) {
		v.Messages[i].MessageKey = hex.EncodeToString(mk)
	}
	v.InitiatorState = hex.EncodeToString(marshal(t, parties["initiator"]))
	v.ResponderState = hex.EncodeToString(marshal(t, parties["responder"]))
	return v
}

func other(side string) string {
	if side == "initiator" {
		return "responder"
	}
	return "initiator"
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectors re-derives the version 1 conversation. Its final states were
// written by a release that stored version 1 state encodings: they stay in
// the file as fixtures, and must load into exactly the states this code
// reaches (which it encodes as version 2).
func TestVectors(t *testing.T) {
	v := generateVectors(t)
	var stored vectorFile
	testkit.ReadJSON(t, vectorPath, &stored)
	for _, c := range []struct{ old, now string }{
		{stored.InitiatorState, v.InitiatorState}, {stored.ResponderState, v.ResponderState},
	} {
		var s State
		if err := s.UnmarshalBinary(unhex(t, c.old)); err != nil {
			t.Fatalf("version 1 state fixture: %v", err)
		}
		if got := hex.EncodeToString(marshal(t, &s)); got != c.now {
			t.Fatal("version 1 state fixture does not load into the state the conversation reaches")
		}
	}
	v.InitiatorState, v.ResponderState = stored.InitiatorState, stored.ResponderState
	want := testkit.GoldenBytes(t, vectorPath, v)
	if err := json.Unmarshal(want, &stored); err != nil {
		t.Fatal(err)
	}
	checkStoredVectors(t, &stored)
}

// checkStoredVectors opens every stored message from the stored keys with
// the reference derivation, and checks the stored final states.
func checkStoredVectors(t *testing.T, v *vectorFile) {
	keys := referenceKeys(t, v)
	if len(keys) != len(vectorSends) {
		t.Fatalf("%d messages, want %d", len(keys), len(vectorSends))
	}
	for i, m := range v.Messages {
		if want := unhex(t, m.MessageKey); !bytes.Equal(keys[i], want) {
			t.Errorf("message %d: stored message key differs from the derivation", i)
		}
		if _, err := ParseMessage(unhex(t, m.Message)); err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	for _, c := range []struct {
		state string
		msg   int
	}{{v.ResponderState, 1}, {v.InitiatorState, 6}} {
		enc := unhex(t, c.state)
		var s State
		if err := s.UnmarshalBinary(enc); err != nil {
			t.Fatalf("stored state: %v", err)
		}
		// A version 1 encoding re-encodes as version 2, which is stable.
		again := marshal(t, &s)
		var s2 State
		if err := s2.UnmarshalBinary(again); err != nil || !bytes.Equal(marshal(t, &s2), again) || again[0] != stateV2 {
			t.Errorf("stored state does not re-encode stably as version 2 (%v)", err)
		}
		if s.Version() != 1 {
			t.Error("a version 1 state loaded as a version 2 session")
		}
		// The undelivered message opens from the stored skipped key.
		decryptOK(t, &s, unhex(t, v.Messages[c.msg].Message), string(unhex(t, v.Messages[c.msg].Plaintext)))
	}
	// The responder's start needs no randomness: it opens the first message.
	prekey, err := ecdh.X25519().NewPrivateKey(unhex(t, v.PrekeyPrivate))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := InitResponder(unhex(t, v.SharedSecret), unhex(t, v.AD), prekey)
	if err != nil {
		t.Fatal(err)
	}
	decryptOK(t, bob, unhex(t, v.Messages[0].Message), vectorSends[0].text)
}

// referenceKeys re-derives every message key of the conversation from the
// stored secrets, written straight from the spec without the package's
// KDF helpers, opens each message with it and returns the keys.
func referenceKeys(t *testing.T, v *vectorFile) [][]byte {
	t.Helper()
	rk := unhex(t, v.SharedSecret)
	ad := unhex(t, v.AD)
	lastPub := map[string][]byte{"responder": unhex(t, v.PrekeyPublic)}
	type chain struct {
		ck []byte
		n  uint32
	}
	chains := map[string]*chain{} // current sending chain per side
	sentIn := map[string]uint32{} // messages in the previous chain per side
	var keys [][]byte
	for i, vm := range v.Messages {
		msg := unhex(t, vm.Message)
		dh, pn, n := msg[1:33], binary.BigEndian.Uint32(msg[33:]), binary.BigEndian.Uint32(msg[37:])
		priv, err := ecdh.X25519().NewPrivateKey(unhex(t, vm.RatchetPrivate))
		if err != nil || !bytes.Equal(priv.PublicKey().Bytes(), dh) {
			t.Fatalf("message %d: ratchet_private does not match header.dh", i)
		}
		side := vm.Sender
		if !bytes.Equal(lastPub[side], dh) { // a sending DH ratchet step
			if c := chains[side]; c != nil {
				sentIn[side] = c.n
			}
			peer, _ := ecdh.X25519().NewPublicKey(lastPub[other(side)])
			shared, err := priv.ECDH(peer)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := hkdf.Key(sha256.New, shared, rk, "hush/v1 ratchet root", 64)
			rk = out[:32]
			chains[side] = &chain{ck: out[32:]}
			lastPub[side] = dh
		}
		c := chains[side]
		if n != c.n || pn != sentIn[side] {
			t.Fatalf("message %d: header (pn %d, n %d), want (%d, %d)", i, pn, n, sentIn[side], c.n)
		}
		mac := func(b byte) []byte { h := hmac.New(sha256.New, c.ck); h.Write([]byte{b}); return h.Sum(nil) }
		mk := mac(0x01)
		c.ck, c.n = mac(0x02), c.n+1
		kn, _ := hkdf.Key(sha256.New, mk, make([]byte, 32), "hush/v1 ratchet message", 44)
		block, _ := aes.NewCipher(kn[:32])
		gcm, _ := cipher.NewGCM(block)
		pt, err := gcm.Open(nil, kn[32:], msg[41:], append(append([]byte(nil), ad...), msg[:41]...))
		if err != nil || !bytes.Equal(pt, unhex(t, vm.Plaintext)) {
			t.Fatalf("message %d does not open with the spec's derivation: %v", i, err)
		}
		keys = append(keys, mk)
	}
	return keys
}
