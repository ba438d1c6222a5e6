package envelope_test

import (
	"crypto/hpke"
	"fmt"

	"github.com/hush-chat/hush/internal/envelope"
)

func ExampleSeal() {
	// The recipient device's envelope key (in hush, built from its device
	// keys with hpke.NewHybridPublicKey).
	bobKey, err := hpke.MLKEM768X25519().GenerateKey()
	if err != nil {
		panic(err)
	}
	bob := envelope.Address{User: "bob", Device: 1}

	c := &envelope.Content{
		Sender:    envelope.Address{User: "alice", Device: 3},
		Recipient: bob,
		MessageID: [16]byte{0x01}, // random in practice
		Timestamp: 1767225600000,
		Type:      1,
		Payload:   []byte("a ratchet message"),
	}
	env, err := envelope.Seal(bobKey.PublicKey(), c)
	if err != nil {
		panic(err)
	}
	fmt.Println("envelope bytes:", len(env))

	got, err := envelope.Open(bobKey, bob, env)
	if err != nil {
		panic(err)
	}
	fmt.Printf("from %s/%d: %s\n", got.Sender.User, got.Sender.Device, got.Payload)
	// Output:
	// envelope bytes: 1393
	// from alice/3: a ratchet message
}

func ExampleSealMulti() {
	var privs []hpke.PrivateKey
	var pubs []hpke.PublicKey
	for range 3 {
		k, err := hpke.MLKEM768X25519().GenerateKey()
		if err != nil {
			panic(err)
		}
		privs = append(privs, k)
		pubs = append(pubs, k.PublicKey())
	}
	c := &envelope.Content{
		Sender:  envelope.Address{User: "alice", Device: 3},
		Type:    1,
		Payload: []byte("group id and message"),
	}
	m, err := envelope.SealMulti(pubs, c)
	if err != nil {
		panic(err)
	}

	// The sender uploads m.Marshal(); the relay parses it without any key
	// and hands each device only its own delivery.
	upload, err := envelope.ParseMulti(m.Marshal())
	if err != nil {
		panic(err)
	}
	for i := range upload.NumSlots() {
		d, err := upload.Delivery(i)
		if err != nil {
			panic(err)
		}
		got, err := envelope.OpenDelivery(privs[i], d)
		if err != nil {
			panic(err)
		}
		fmt.Printf("device %d: %d-byte delivery: %s\n", i, len(d), got.Payload)
	}
	// Output:
	// device 0: 1441-byte delivery: group id and message
	// device 1: 1441-byte delivery: group id and message
	// device 2: 1441-byte delivery: group id and message
}

func ExamplePaddedLen() {
	for _, n := range []int{10, 300, 70000} {
		fmt.Println(n, "->", envelope.PaddedLen(n))
	}
	// Output:
	// 10 -> 256
	// 300 -> 512
	// 70000 -> 131072
}
