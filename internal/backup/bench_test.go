package backup

import (
	"bytes"
	"testing"
)

// BenchmarkClientDerivation is what a client pays to turn a passphrase into
// a backup key with the default parameters: blind, the server's evaluation,
// finalize, and Argon2id (t=3, m=64 MiB, p=4).
func BenchmarkClientDerivation(b *testing.B) {
	key := mustServerKey(b, bytes.Repeat([]byte{7}, SecretSize), "alice")
	for b.Loop() {
		state, blinded, err := Blind([]byte("correct horse battery staple"))
		if err != nil {
			b.Fatal(err)
		}
		ev, err := Evaluate(key, blinded)
		if err != nil {
			b.Fatal(err)
		}
		out, err := Finalize(state, ev)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := NewKey(out, DefaultParams); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServerEvaluate is the server's cost per OPRF request: deriving
// the account's key from the backup secret and evaluating.
func BenchmarkServerEvaluate(b *testing.B) {
	secret := bytes.Repeat([]byte{7}, SecretSize)
	_, blinded, _ := Blind([]byte("pw"))
	for b.Loop() {
		key, err := ServerKey(secret, "alice")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Evaluate(key, blinded); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOPRFClient is the client's OPRF work alone (blind and
// finalize), without Argon2id.
func BenchmarkOPRFClient(b *testing.B) {
	key := mustServerKey(b, bytes.Repeat([]byte{7}, SecretSize), "alice")
	_, blinded, _ := Blind([]byte("pw"))
	ev, _ := Evaluate(key, blinded)
	for b.Loop() {
		state, _, err := Blind([]byte("correct horse battery staple"))
		if err != nil {
			b.Fatal(err)
		}
		// The evaluation of another blind: Finalize's cost is the same.
		if _, err := Finalize(state, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen is opening a 1 MiB backup once the key is known.
func BenchmarkOpen(b *testing.B) {
	key := cheapNewKey("pw")
	bk, err := Seal("alice", make([]byte, 1<<20), key, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1 << 20)
	for b.Loop() {
		if _, err := OpenWithKey(bk, "alice", key); err != nil {
			b.Fatal(err)
		}
	}
}
