package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"testing"
)

// newPair returns an initiator and a responder State sharing a random
// secret, as session setup would leave them.
func newPair(t testing.TB) (alice, bob *State) {
	t.Helper()
	sk := make([]byte, 32)
	rand.Read(sk)
	prekey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ad := []byte("hush test session: alice <-> bob")
	alice, err = InitInitiator(sk, ad, prekey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	bob, err = InitResponder(sk, ad, prekey)
	if err != nil {
		t.Fatal(err)
	}
	return alice, bob
}

func marshal(t testing.TB, s *State) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encrypt(t testing.TB, s *State, pt string) []byte {
	t.Helper()
	m, err := s.Encrypt([]byte(pt))
	if err != nil {
		t.Fatalf("Encrypt(%q): %v", pt, err)
	}
	return m
}

func decryptOK(t testing.TB, s *State, m []byte, want string) {
	t.Helper()
	got, err := s.Decrypt(m)
	if err != nil {
		t.Fatalf("Decrypt (want %q): %v", want, err)
	}
	if string(got) != want {
		t.Fatalf("Decrypt = %q, want %q", got, want)
	}
}

// refused asserts that Decrypt fails with an error satisfying ok and that
// the State is byte-for-byte unchanged.
func refused(t testing.TB, s *State, m []byte, ok func(error) bool, what string) error {
	t.Helper()
	before := marshal(t, s)
	pt, err := s.Decrypt(m)
	if err == nil {
		t.Fatalf("%s: Decrypt succeeded (%d bytes), want refusal", what, len(pt))
	}
	if !ok(err) {
		t.Fatalf("%s: unexpected error %v", what, err)
	}
	if after := marshal(t, s); !bytes.Equal(before, after) {
		t.Fatalf("%s: refused message changed the state (%v)", what, err)
	}
	return err
}

func label(side string, i int) string { return fmt.Sprintf("%s message %d", side, i) }
