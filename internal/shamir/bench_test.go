package shamir

import "testing"

// BenchmarkSplit: one 32-byte secret into 5 shares, 3 of which restore it
// (randomness, evaluation and the 5 commitments).
func BenchmarkSplit(b *testing.B) {
	secret := randomSecret(b)
	for b.Loop() {
		if _, _, err := Split(secret, 3, 5, "alice"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCombine: 3 shares of a 3-of-5 set verified and combined.
func BenchmarkCombine(b *testing.B) {
	set, shares := mustSplit(b, randomSecret(b), 3, 5)
	in := shares[1:4]
	for b.Loop() {
		if _, err := Combine(set, in); err != nil {
			b.Fatal(err)
		}
	}
}
