package shamir_test

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/shamir"
)

// A user splits a recovery secret into 5 shares for 5 contacts, signs the
// set with the identity key, and later restores the secret from 3 shares.
func Example() {
	id, _ := identity.GenerateIdentity()
	secret := make([]byte, shamir.SecretSize)
	rand.Read(secret)

	set, shares, err := shamir.Split(secret, 3, 5, "alice")
	if err != nil {
		panic(err)
	}
	setBytes, sig := set.Bytes(), set.Sign(id.Sign)
	held := make([][]byte, len(shares)) // one per contact, sent encrypted
	for i := range shares {
		held[i] = shares[i].Bytes()
		shares[i].Wipe()
	}

	// Recovery: the set from anywhere, checked under the identity key;
	// shares from three contacts.
	got, err := shamir.ParseSignedSet(setBytes, sig, id.Public().Verify)
	if err != nil {
		panic(err)
	}
	var back []shamir.Share
	for _, b := range [][]byte{held[4], held[0], held[2]} {
		s, err := shamir.ParseShare(b)
		if err != nil {
			panic(err)
		}
		back = append(back, s)
	}
	restored, err := shamir.Combine(got, back)
	fmt.Println(bytes.Equal(restored, secret), err)

	_, err = shamir.Combine(got, back[:2])
	fmt.Println(err)
	// Output:
	// true <nil>
	// recovery: 2 of 3 shares are valid: ask 1 more holder for their share
}
