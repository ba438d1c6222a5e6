package tagged

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/hush-chat/hush/internal/envelope"
)

var (
	alice = envelope.Address{User: "alice", Device: 1}
	bob   = envelope.Address{User: "bob", Device: 2}
	carol = envelope.Address{User: "carol", Device: 7}
)

// textContent is a ratchet-message content of about the size a 100-byte
// text makes (ratchet header 41 + app header 2 + text 100 + GCM tag 16).
func textContent(from, to envelope.Address, id byte) *envelope.Content {
	return &envelope.Content{Sender: from, Recipient: to, MessageID: [16]byte{0xc0, id}, Timestamp: 1767225600000 + int64(id), Type: 1, Payload: bytes.Repeat([]byte{id}, 41+2+100+16)}
}

// pair returns bob's receiver for alice, with one continuable epoch
// offered, and alice's sender holding it.
func pair(t testing.TB) (*Receiver, *Sender) {
	t.Helper()
	r, o, _, err := (&Receiver{}).Offer()
	if err != nil {
		t.Fatal(err)
	}
	s, err := (&Sender{}).Accept(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

// seal seals n text contents from alice to bob, returning the envelopes and
// the final sender.
func seal(t testing.TB, s *Sender, n int) (*Sender, [][]byte) {
	t.Helper()
	var envs [][]byte
	for i := range n {
		var env []byte
		var err error
		s, env, err = s.Seal(textContent(alice, bob, byte(i)))
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	return s, envs
}

func marshal(t testing.TB, v interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalContent(a, b *envelope.Content) bool {
	return a.Sender == b.Sender && a.Recipient == b.Recipient && a.MessageID == b.MessageID &&
		a.Timestamp == b.Timestamp && a.Type == b.Type && bytes.Equal(a.Payload, b.Payload)
}

// legacyPair is pair with a batch (offer version 0x01), as the first
// release made it.
func legacyPair(t testing.TB) (*Receiver, *Sender) {
	t.Helper()
	var seed [seedLen]byte
	rand.Read(seed[:])
	r, o, _, err := (&Receiver{}).withBatch(newBatch(1, &seed))
	if err != nil {
		t.Fatal(err)
	}
	s, err := (&Sender{}).Accept(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

// bothPairs runs f on a continuable pair and on a batch pair.
func bothPairs(t *testing.T, f func(t *testing.T, pair func(testing.TB) (*Receiver, *Sender))) {
	t.Run("continuable", func(t *testing.T) { f(t, pair) })
	t.Run("batch", func(t *testing.T) { f(t, legacyPair) })
}
