package group

import "testing"

var benchMessage = make([]byte, 100)

// BenchmarkGroupEncrypt: one 100-byte message from one sender, sealed once
// for the whole group (one chain step, one AEAD, one signature).
func BenchmarkGroupEncrypt(b *testing.B) {
	s, err := NewSender(ID{1}, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchMessage)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Encrypt(benchMessage); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGroupDecrypt: one 100-byte message in order (signature check,
// chain step, AEAD). Messages are sealed before the timer starts.
func BenchmarkGroupDecrypt(b *testing.B) {
	s, err := NewSender(ID{1}, 1)
	if err != nil {
		b.Fatal(err)
	}
	k := NewKeyring(ID{1})
	if err := k.Add(Address{User: "alice", Device: 1}, s.Distribution()); err != nil {
		b.Fatal(err)
	}
	msgs := make([][]byte, b.N)
	for i := range msgs {
		if msgs[i], err = s.Encrypt(benchMessage); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(benchMessage)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := k.Decrypt(msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
}
