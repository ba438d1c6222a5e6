package tagged

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// legacyPath holds states and envelopes written by the first release of
// protocol v2 (offer and state versions 0x01), before continuable epochs.
// It was written once by that code and must never be regenerated: it is
// what stored profiles and peers in the field hold.
const legacyPath = "testdata/legacy_v1.json"

type legacyEnv struct {
	Epoch    uint32   `json:"epoch"`
	Position int      `json:"position"`
	ID       hexBytes `json:"message_id"`
	Payload  hexBytes `json:"payload"`
	Envelope hexBytes `json:"envelope"`
}

type legacyFixture struct {
	Comment    string      `json:"comment"`
	Receiver   hexBytes    `json:"receiver_state"`       // epochs 1 and 2, some positions opened
	Sender     hexBytes    `json:"sender_state"`         // epoch 2 at position 3
	SenderUsed hexBytes    `json:"sender_state_used_up"` // epoch 2 at position 64
	Unopened   []legacyEnv `json:"unopened"`             // sealed to the receiver, not opened
	Replays    []legacyEnv `json:"replays"`              // opened already
}

func readLegacy(t *testing.T) *legacyFixture {
	t.Helper()
	b, err := os.ReadFile(legacyPath)
	if err != nil {
		t.Fatal(err)
	}
	var f legacyFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Receiver) == 0 || len(f.Sender) == 0 || len(f.Unopened) == 0 || len(f.Replays) == 0 {
		t.Fatal("legacy fixture incomplete")
	}
	return &f
}

// A receiver state stored by the first release opens what its peer sealed
// to it, refuses replays of what it opened, and re-encodes as it was.
func TestLegacyReceiverOpens(t *testing.T) {
	f := readLegacy(t)
	var r Receiver
	if err := r.UnmarshalBinary(f.Receiver); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(marshal(t, &r), f.Receiver) {
		t.Fatal("a legacy receiver state does not re-encode to its bytes")
	}
	state := bytes.Clone(f.Receiver)
	for _, e := range f.Unopened {
		n, op, err := r.Open(bob, e.Envelope)
		if err != nil {
			t.Fatalf("epoch %d position %d: %v", e.Epoch, e.Position, err)
		}
		if op.Epoch != e.Epoch || op.Position != e.Position || !bytes.Equal(op.Content.Payload, e.Payload) ||
			!bytes.Equal(op.Content.MessageID[:], e.ID) || op.Content.Sender != alice {
			t.Fatalf("epoch %d position %d opens to other content", e.Epoch, e.Position)
		}
		if _, _, err := n.Open(bob, e.Envelope); !errors.Is(err, ErrReplay) {
			t.Fatalf("epoch %d position %d twice: %v", e.Epoch, e.Position, err)
		}
		next, eop, _, err := OpenEncoded(state, bob, e.Envelope)
		if err != nil || eop.Position != e.Position || !bytes.Equal(next, marshal(t, n)) {
			t.Fatalf("OpenEncoded, epoch %d position %d: %v", e.Epoch, e.Position, err)
		}
		r, state = *n, next
	}
	for _, e := range f.Replays {
		if _, _, err := r.Open(bob, e.Envelope); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay of epoch %d position %d: %v", e.Epoch, e.Position, err)
		}
	}
}

// A sender state stored by the first release seals its batch's remaining
// positions, which the legacy receiver opens, then falls back; a used-up
// one seals nothing.
func TestLegacySenderSeals(t *testing.T) {
	f := readLegacy(t)
	var r Receiver
	if err := r.UnmarshalBinary(f.Receiver); err != nil {
		t.Fatal(err)
	}
	s := &Sender{}
	if err := s.UnmarshalBinary(f.Sender); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(marshal(t, s), f.Sender) {
		t.Fatal("a legacy sender state does not re-encode to its bytes")
	}
	if s.Epoch() != 2 || s.Remaining() != Window-3 {
		t.Fatalf("legacy sender: epoch %d, %d remaining", s.Epoch(), s.Remaining())
	}
	rp := &r
	for i := 3; i < Window; i++ {
		var env []byte
		var err error
		if s, env, err = s.Seal(textContent(alice, bob, byte(i))); err != nil {
			t.Fatalf("position %d: %v", i, err)
		}
		var op *Opened
		if rp, op, err = rp.Open(bob, env); err != nil || op.Epoch != 2 || op.Position != i {
			t.Fatalf("position %d: %v", i, err)
		}
	}
	if _, _, err := s.Seal(textContent(alice, bob, 0)); !errors.Is(err, ErrNoPosition) {
		t.Fatalf("legacy sender beyond its batch: %v, want ErrNoPosition", err)
	}
	if !bytes.Equal(marshal(t, s), f.SenderUsed) {
		t.Fatal("the used-up legacy sender differs from the stored one")
	}
	var used Sender
	if err := used.UnmarshalBinary(f.SenderUsed); err != nil || used.CanSeal() || used.Epoch() != 2 {
		t.Fatalf("used-up legacy sender: %v", err)
	}
}
