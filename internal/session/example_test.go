package session_test

import (
	"fmt"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/session"
)

// Alice starts a session from Bob's bundle; Bob accepts her first message
// and the two talk over the resulting ratchets.
func Example() {
	// Bob publishes a bundle: device certificate, signed prekey, last-resort
	// KEM prekey and, while he has them, a one-time prekey.
	bobID, _ := identity.GenerateIdentity()
	bobDev, _ := identity.GenerateDevice(1)
	bobCert := identity.Certify(bobID, bobDev, 1767225600)
	bobRing, _ := pqxdh.NewKeyring(bobID, 1, 1767225600)
	otp, _ := bobRing.GenerateOneTime(1)
	bundle := &pqxdh.Bundle{Device: bobCert, SignedPreKey: bobRing.SignedPreKey(),
		KEMPreKey: bobRing.LastResort(), OneTime: &otp[0]}

	aliceID, _ := identity.GenerateIdentity()
	aliceDev, _ := identity.GenerateDevice(1)
	aliceCert := identity.Certify(aliceID, aliceDev, 1767225600)

	alice, first, err := session.Start(aliceDev, aliceCert, bundle, []byte("attack at dawn"))
	if err != nil {
		panic(err)
	}
	acc, err := session.Accept(bobDev, bobCert, bobRing, first)
	if err != nil {
		panic(err)
	}
	fmt.Printf("bob reads %q from the holder of %s\n", acc.Plaintext,
		map[bool]string{true: "alice's key", false: "another key"}[acc.Initiator.Identity.Equal(aliceID.Public())])

	reply, _ := acc.State.Encrypt([]byte("confirmed"))
	pt, _ := alice.Decrypt(reply)
	fmt.Printf("alice reads %q\n", pt)
	// Output:
	// bob reads "attack at dawn" from the holder of alice's key
	// alice reads "confirmed"
}
