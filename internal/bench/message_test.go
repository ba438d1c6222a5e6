package bench

import (
	"testing"

	"github.com/hush-chat/hush/internal/tagged"
)

// The conversation the message benchmarks run is on tagged envelopes once
// set up, and stays on them over many turns (offers refill in time).
func TestConversationUsesTaggedEnvelopes(t *testing.T) {
	c, err := NewConversation()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if err := c.Send(i/3%2 == 0, text100); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	// A sealed envelope costs 1,137 bytes besides its content: a mean
	// far below means tagged envelopes carried the conversation.
	if avg := float64(c.WireBytes) / float64(c.Texts); avg > 600 {
		t.Fatalf("%.0f bytes per message on average, want tagged envelopes", avg)
	}
	env, err := c.a.seal(appText(text100))
	// 256 bytes of content, or 512 while the post-quantum ratchet's chunks
	// ride along.
	if err != nil || env[0] != tagged.Type || (len(env) != 256+tagged.Overhead && len(env) != 512+tagged.Overhead) {
		t.Fatalf("envelope %#x of %d bytes (%v), want a tagged envelope of 289 or 545", env[0], len(env), err)
	}
}

// In a one-way conversation, as message_e2e_ns runs it, the receiver's
// offers (carried the other way) stay on tagged envelopes too: the sender
// of a text refills the receiver's positions as the client's offerIfDue
// does after every message it receives, offers included. Without that,
// after 2 × 64 / RefillMark × 32 texts every offer went out as a sealed
// envelope, a public-key operation per 32 texts the client does not make.
func TestOneWayConversationStaysTagged(t *testing.T) {
	c, err := NewConversation()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		w := c.WireBytes
		if err := c.Send(true, text100); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		// A text with an offer after it, both tagged, stays below one
		// sealed envelope's overhead (1,137 bytes).
		if n := c.WireBytes - w; n >= 1137 {
			t.Fatalf("message %d: %d bytes on the wire, a sealed envelope", i, n)
		}
	}
}

// BenchmarkMessageE2E is message_e2e_ns: one 100-byte text on an
// established session, both clients' CPU along the client's path.
func BenchmarkMessageE2E(b *testing.B) {
	c, err := NewConversation()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := c.Send(true, text100); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.LastWire), "wire-bytes")
}

// BenchmarkConversationWireBytes reports message_wire_bytes over a
// 1,000-message conversation taking turns.
func BenchmarkConversationWireBytes(b *testing.B) {
	var avg float64
	for range b.N {
		var err error
		if avg, err = ConversationWireBytes(1000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(avg, "wire-bytes/msg")
}
