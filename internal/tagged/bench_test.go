package tagged

import (
	"testing"

	"github.com/hush-chat/hush/internal/envelope"
)

// TestEnvelopeSizeOfText: a 100-byte text on a session travels in 289
// bytes (the 256 bucket plus 33), against 1,393 for a sealed envelope.
func TestEnvelopeSizeOfText(t *testing.T) {
	_, s := pair(t)
	_, env, err := s.Seal(textContent(alice, bob, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != 289 || len(env) > 400 {
		t.Fatalf("tagged envelope of a 100-byte text: %d bytes, want 289", len(env))
	}
}

// BenchmarkSeal is the sender's whole per-message cost: load the stored
// state, seal a 100-byte text's content, store the new state.
func BenchmarkSeal(b *testing.B) {
	_, s := pair(b)
	c := textContent(alice, bob, 1)
	blob := marshal(b, s)
	b.ReportAllocs()
	for b.Loop() {
		var st Sender
		if err := st.UnmarshalBinary(blob); err != nil {
			b.Fatal(err)
		}
		next, env, err := st.Seal(c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := next.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(env)))
	}
}

// BenchmarkOpen is the receiver's whole per-message cost: find the session
// in a table of 1,000 sessions, load its stored state (two batches), open,
// store the new state.
func BenchmarkOpen(b *testing.B) {
	tab := NewTable[int]()
	r, s := pair(b)
	_, envs := seal(b, s, 1)
	r1, _, _ := r.Open(bob, envs[0])
	r2, o, _, _ := r1.Offer()
	s2, _ := s.Accept(o)
	_, env, _ := s2.Seal(textContent(alice, bob, 2))
	tab.Add(0, r2.Tags())
	for i := 1; i < 1000; i++ {
		ri, _ := pair(b)
		tab.Add(i, ri.Tags())
	}
	blob := marshal(b, r2)
	self := envelope.Address{User: "bob", Device: 2}
	b.ReportAllocs()
	for b.Loop() {
		g, err := ParseTag(env)
		if err != nil {
			b.Fatal(err)
		}
		if k, ok := tab.Lookup(g); !ok || k != 0 {
			b.Fatal("lookup")
		}
		var st Receiver
		if err := st.UnmarshalBinary(blob); err != nil {
			b.Fatal(err)
		}
		next, _, err := st.Open(self, env)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := next.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOffer is a new batch: 64 positions derived, amortised over the
// RefillMark envelopes that come before the next one.
func BenchmarkOffer(b *testing.B) {
	r, s := pair(b)
	_, envs := seal(b, s, 1)
	r, _, _ = r.Open(bob, envs[0])
	for b.Loop() {
		if _, _, _, err := r.Offer(); err != nil {
			b.Fatal(err)
		}
	}
}
