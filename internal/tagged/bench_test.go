package tagged

import (
	"bytes"
	"testing"
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

// BenchmarkOpen is the receiver's whole per-message cost on a continuable
// epoch, in order: find the session in a table of 1,000 sessions, open
// the stored state (OpenEncoded, as the client does), apply the table's
// delta.
func BenchmarkOpen(b *testing.B) {
	r, s := pair(b)
	tab := NewTable[int]()
	tab.Apply(0, r.Held())
	for i := 1; i < 1000; i++ {
		ri, _ := pair(b)
		tab.Apply(i, ri.Held())
	}
	const n = 4096
	_, envs := seal(b, s, n)
	state := marshal(b, r)
	start := bytes.Clone(state)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == n { // start over: the same envelopes are replays otherwise
			b.StopTimer()
			state, i = start, 0
			tab = NewTable[int]()
			tab.Apply(0, r.Held())
			b.StartTimer()
		}
		g, err := ParseTag(envs[i])
		if err != nil {
			b.Fatal(err)
		}
		if k, ok := tab.Lookup(g); !ok || k != 0 {
			b.Fatal("lookup")
		}
		next, op, _, err := OpenEncoded(state, bob, envs[i])
		if err != nil {
			b.Fatal(err)
		}
		tab.Apply(0, op.Delta)
		state = next
		i++
	}
}

// BenchmarkOpenBatch is BenchmarkOpen's first-release form: a batch,
// state of two batches, decoded, opened and encoded.
func BenchmarkOpenBatch(b *testing.B) {
	tab := NewTable[int]()
	r, s := legacyPair(b)
	_, envs := seal(b, s, 1)
	r1, _, _ := r.Open(bob, envs[0])
	var seed [seedLen]byte
	r2, o, _, _ := r1.withBatch(newBatch(2, &seed))
	s2, _ := s.Accept(o)
	_, env, _ := s2.Seal(textContent(alice, bob, 2))
	tab.Add(0, r2.Tags())
	for i := 1; i < 1000; i++ {
		ri, _ := legacyPair(b)
		tab.Add(i, ri.Tags())
	}
	blob := marshal(b, r2)
	b.ReportAllocs()
	for b.Loop() {
		g, err := ParseTag(env)
		if err != nil {
			b.Fatal(err)
		}
		if k, ok := tab.Lookup(g); !ok || k != 0 {
			b.Fatal("lookup")
		}
		if _, _, _, err := OpenEncoded(blob, bob, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupMiss is a tag no session made, in a table of 1,000
// sessions with a continuable epoch each: the trial's worst case.
func BenchmarkLookupMiss(b *testing.B) {
	tab := NewTable[int]()
	for i := range 1000 {
		ri, _ := pair(b)
		tab.Apply(i, ri.Held())
	}
	var g Tag
	g[0] = 1
	for b.Loop() {
		if _, ok := tab.Lookup(g); ok {
			b.Fatal("found")
		}
	}
}

// BenchmarkOffer is a new continuable epoch: its keys and the tags of its
// first window, amortised over the RefillMark envelopes that come before
// the next one.
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
