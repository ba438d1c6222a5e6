package proto

import (
	"bytes"
	"testing"

	"github.com/hush-chat/hush/internal/identity"
)

// A sealed challenge opens with the device's own key only, and only a
// nonce of NonceSize is accepted.
func TestSecurityChallengeOpensOnlyForItsDevice(t *testing.T) {
	id, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := identity.GenerateDevice(1)
	if err != nil {
		t.Fatal(err)
	}
	other, err := identity.GenerateDevice(1)
	if err != nil {
		t.Fatal(err)
	}
	cert := identity.Certify(id, dev, 1)
	nonce := bytes.Repeat([]byte{7}, NonceSize)
	sealed, err := SealChallenge(cert, nonce)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenChallenge(dev, sealed)
	if err != nil || !bytes.Equal(got, nonce) {
		t.Fatalf("own device: %x %v", got, err)
	}
	if _, err := OpenChallenge(other, sealed); err == nil {
		t.Error("another device opened the challenge")
	}
	short, err := SealChallenge(cert, nonce[:NonceSize-1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenChallenge(dev, short); err == nil {
		t.Error("a short nonce was accepted")
	}
}
