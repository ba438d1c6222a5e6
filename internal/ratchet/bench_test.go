package ratchet

import "testing"

var benchMessage = make([]byte, 100)

// BenchmarkEncrypt: one 100-byte message in the steady state (same chain).
func BenchmarkEncrypt(b *testing.B) {
	alice, _ := newPair(b)
	b.SetBytes(int64(len(benchMessage)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := alice.Encrypt(benchMessage); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecrypt: one 100-byte message in the steady state, in order.
// The messages are sealed before the timer starts.
func BenchmarkDecrypt(b *testing.B) {
	alice, bob := newPair(b)
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = encrypt(b, alice, string(benchMessage))
	}
	b.SetBytes(int64(len(benchMessage)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := bob.Decrypt(msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPingPong: one message each way per iteration, so each side does
// a DH ratchet step every time (two key generations, four X25519).
func BenchmarkPingPong(b *testing.B) {
	alice, bob := newPair(b)
	b.ReportAllocs()
	for b.Loop() {
		m, err := alice.Encrypt(benchMessage)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bob.Decrypt(m); err != nil {
			b.Fatal(err)
		}
		if m, err = bob.Encrypt(benchMessage); err != nil {
			b.Fatal(err)
		}
		if _, err := alice.Decrypt(m); err != nil {
			b.Fatal(err)
		}
	}
}
