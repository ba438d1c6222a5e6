package ratchet

import (
	"crypto/ecdh"
	"crypto/rand"
	"testing"
)

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

// newPairV1 is newPair for a version 1 (classical) session.
func newPairV1(b *testing.B) (alice, bob *State) {
	sk := make([]byte, 32)
	prekey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	alice, err = InitInitiatorV1(sk, []byte("ad"), prekey.PublicKey())
	if err != nil {
		b.Fatal(err)
	}
	bob, err = InitResponder(sk, []byte("ad"), prekey)
	if err != nil {
		b.Fatal(err)
	}
	return alice, bob
}

// BenchmarkEncryptV1 and BenchmarkDecryptV1: the same steady state in a
// version 1 session, to compare with the version 2 figures above.
func BenchmarkEncryptV1(b *testing.B) {
	alice, _ := newPairV1(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := alice.Encrypt(benchMessage); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptV1(b *testing.B) {
	alice, bob := newPairV1(b)
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = encrypt(b, alice, string(benchMessage))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := bob.Decrypt(msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecryptChunk: a version 2 message carrying a key chunk that
// does not complete the key (the common post-quantum message).
func BenchmarkDecryptChunk(b *testing.B) {
	alice, bob := newPair(b)
	first := encrypt(b, alice, "first")
	second := encrypt(b, alice, string(benchMessage)) // chunk 1
	if _, err := bob.Decrypt(first); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s := bob.Clone()
		if _, err := s.Decrypt(second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecryptCompletesKey: the message whose chunk completes the
// peer's encapsulation key, so the receiver encapsulates (one ML-KEM-768
// Encapsulate, plus a Clone of the state per iteration).
func BenchmarkDecryptCompletesKey(b *testing.B) {
	alice, bob := newPair(b)
	var last []byte
	for i := range ekChunks {
		m := encrypt(b, alice, string(benchMessage))
		if i < ekChunks-1 {
			if _, err := bob.Decrypt(m); err != nil {
				b.Fatal(err)
			}
		}
		last = m
	}
	b.ReportAllocs()
	for b.Loop() {
		s := bob.Clone()
		if _, err := s.Decrypt(last); err != nil || s.pq.phase != pqSendCT {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecryptCompletesCiphertext: the message whose chunk completes
// the ciphertext, so the receiver decapsulates (ML-KEM-768 key expansion
// from the seed and Decapsulate).
func BenchmarkDecryptCompletesCiphertext(b *testing.B) {
	alice, bob := newPair(b)
	for range ekChunks {
		if _, err := bob.Decrypt(encrypt(b, alice, string(benchMessage))); err != nil {
			b.Fatal(err)
		}
	}
	var last []byte
	for i := range ctChunks {
		m := encrypt(b, bob, string(benchMessage))
		if i < ctChunks-1 {
			if _, err := alice.Decrypt(m); err != nil {
				b.Fatal(err)
			}
		}
		last = m
	}
	b.ReportAllocs()
	for b.Loop() {
		s := alice.Clone()
		if _, err := s.Decrypt(last); err != nil || s.pq.phase != pqMix {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncryptGeneratesKey: the first send of an epoch as EK side,
// which generates the ML-KEM-768 key pair.
func BenchmarkEncryptGeneratesKey(b *testing.B) {
	alice, _ := newPair(b)
	b.ReportAllocs()
	for b.Loop() {
		s := alice.Clone()
		s.pq.enter(s.pq.epoch, pqNeedKey)
		if _, err := s.Encrypt(benchMessage); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadState: UnmarshalBinary of a version 2 state in the middle
// of an exchange; it does no scalar multiplication and no ML-KEM work.
func BenchmarkLoadState(b *testing.B) {
	alice, bob := newPair(b)
	for range 5 {
		if _, err := bob.Decrypt(encrypt(b, alice, "x")); err != nil {
			b.Fatal(err)
		}
	}
	enc := marshal(b, bob)
	b.ReportAllocs()
	for b.Loop() {
		var s State
		if err := s.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBytesPerMessage reports the average bytes a version 2 message
// carries beyond version 1 over a 1,000-message ping-pong conversation.
func BenchmarkBytesPerMessage(b *testing.B) {
	for b.Loop() {
		avg, _ := overhead(b, func(i int) string { return []string{"alice", "bob"}[i%2] })
		b.ReportMetric(avg, "extra-bytes/msg")
	}
}

// BenchmarkLoadStateShared: UnmarshalShared of the state of
// BenchmarkLoadState after 64 DH steps each way (every retired chain a
// State keeps), as a client loads it from a session record.
func BenchmarkLoadStateShared(b *testing.B) {
	alice, bob := newPair(b)
	for range MaxPastChains {
		if _, err := bob.Decrypt(encrypt(b, alice, "x")); err != nil {
			b.Fatal(err)
		}
		if _, err := alice.Decrypt(encrypt(b, bob, "y")); err != nil {
			b.Fatal(err)
		}
	}
	enc := marshal(b, bob)
	b.ReportAllocs()
	for b.Loop() {
		var s State
		if err := s.UnmarshalShared(enc); err != nil {
			b.Fatal(err)
		}
	}
}
