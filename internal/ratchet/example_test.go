package ratchet_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/ratchet"
)

func Example() {
	// Session setup (internal/pqxdh) gives both parties the same secret and
	// associated data; Bob's signed prekey is his first ratchet key.
	sk := make([]byte, 32)
	rand.Read(sk)
	ad := []byte("identity of Alice || identity of Bob")
	prekey, _ := ecdh.X25519().GenerateKey(rand.Reader)

	alice, _ := ratchet.InitInitiator(sk, ad, prekey.PublicKey())
	bob, _ := ratchet.InitResponder(sk, ad, prekey)

	m1, _ := alice.Encrypt([]byte("hello Bob"))
	pt, _ := bob.Decrypt(m1)
	fmt.Println(string(pt))

	m2, _ := bob.Encrypt([]byte("hello Alice")) // Bob's first DH ratchet step
	pt, _ = alice.Decrypt(m2)
	fmt.Println(string(pt))

	// A message is decrypted at most once.
	_, err := bob.Decrypt(m1)
	fmt.Println(errors.Is(err, ratchet.ErrReplay))
	// Output:
	// hello Bob
	// hello Alice
	// true
}

func ExampleInitResponder() {
	sk := make([]byte, 32)
	rand.Read(sk)
	prekey, _ := ecdh.X25519().GenerateKey(rand.Reader)
	bob, _ := ratchet.InitResponder(sk, nil, prekey)

	// The responder has no remote ratchet key until the first message.
	_, err := bob.Encrypt([]byte("too early"))
	fmt.Println(errors.Is(err, ratchet.ErrNotReady))
	// Output: true
}

func ExampleState_MarshalBinary() {
	sk := make([]byte, 32)
	rand.Read(sk)
	prekey, _ := ecdh.X25519().GenerateKey(rand.Reader)
	alice, _ := ratchet.InitInitiator(sk, nil, prekey.PublicKey())
	bob, _ := ratchet.InitResponder(sk, nil, prekey)

	m1, _ := alice.Encrypt([]byte("first"))
	m2, _ := alice.Encrypt([]byte("second"))
	bob.Decrypt(m2) // m1's key is kept as a skipped key

	// Store Bob's state (it holds secrets: store it encrypted) and restore it.
	saved, _ := bob.MarshalBinary()
	var restored ratchet.State
	if err := restored.UnmarshalBinary(saved); err != nil {
		panic(err)
	}
	pt, _ := restored.Decrypt(m1)
	fmt.Println(string(pt))
	// Output: first
}

func ExampleParseMessage() {
	sk := make([]byte, 32)
	rand.Read(sk)
	prekey, _ := ecdh.X25519().GenerateKey(rand.Reader)
	alice, _ := ratchet.InitInitiator(sk, nil, prekey.PublicKey())
	alice.Encrypt([]byte("zero"))
	enc, _ := alice.Encrypt([]byte("one"))

	m, err := ratchet.ParseMessage(enc)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Header.PN, m.Header.N, len(m.Ciphertext))
	// Output: 0 1 19
}
