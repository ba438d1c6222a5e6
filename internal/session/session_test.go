package session

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/ratchet"
	"github.com/hush-chat/hush/internal/testkit"
)

type device struct {
	id   *identity.IdentityPrivateKey
	dev  *identity.DevicePrivateKey
	cert *identity.DeviceCert
	ring *pqxdh.Keyring
}

func newDevice(t testing.TB, n uint32) *device {
	t.Helper()
	id, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := identity.GenerateDevice(n)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := pqxdh.NewKeyring(id, n, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &device{id: id, dev: dev, cert: identity.Certify(id, dev, 0), ring: ring}
}

func (d *device) bundle(t testing.TB, oneTime bool) *pqxdh.Bundle {
	t.Helper()
	b := &pqxdh.Bundle{Device: d.cert, SignedPreKey: d.ring.SignedPreKey(), KEMPreKey: d.ring.LastResort()}
	if oneTime {
		otp, err := d.ring.GenerateOneTime(1)
		if err != nil {
			t.Fatal(err)
		}
		b.OneTime = &otp[0]
	}
	return b
}

func TestStartAcceptConversation(t *testing.T) {
	alice, bob := newDevice(t, 1), newDevice(t, 1)
	sa, pm, err := Start(alice.dev, alice.cert, bob.bundle(t, true), []byte("attack at dawn"))
	if err != nil {
		t.Fatal(err)
	}
	acc, err := Accept(bob.dev, bob.cert, bob.ring, pm)
	if err != nil {
		t.Fatal(err)
	}
	if string(acc.Plaintext) != "attack at dawn" || !acc.Initiator.Identity.Equal(alice.id.Public()) {
		t.Fatalf("accepted %q from %x", acc.Plaintext, acc.Initiator.Identity.Bytes())
	}
	sb := acc.State
	for i := range 5 {
		m, err := sb.Encrypt(fmt.Appendf(nil, "reply %d", i))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := sa.Decrypt(m); err != nil || string(pt) != fmt.Sprintf("reply %d", i) {
			t.Fatalf("alice got %q, %v", pt, err)
		}
		m, _ = sa.Encrypt([]byte("ack"))
		if pt, err := sb.Decrypt(m); err != nil || string(pt) != "ack" {
			t.Fatalf("bob got %q, %v", pt, err)
		}
	}
}

func TestReplayedPreKeyMessageRefused(t *testing.T) {
	for _, oneTime := range []bool{true, false} {
		alice, bob := newDevice(t, 1), newDevice(t, 2)
		_, pm, _ := Start(alice.dev, alice.cert, bob.bundle(t, oneTime), []byte("hi"))
		if _, err := Accept(bob.dev, bob.cert, bob.ring, pm); err != nil {
			t.Fatal(err)
		}
		_, err := Accept(bob.dev, bob.cert, bob.ring, pm)
		if !errors.Is(err, pqxdh.ErrPreKeyUsed) && !errors.Is(err, pqxdh.ErrReplayedPreKeyMessage) {
			t.Fatalf("one-time=%v: replay got %v", oneTime, err)
		}
	}
}

func TestForgedPreKeyMessageBurnsNothing(t *testing.T) {
	// Security regression: a prekey message whose ratchet part does not
	// authenticate must leave the keyring exactly as it was, so an attacker
	// cannot exhaust one-time prekeys with garbage.
	alice, bob := newDevice(t, 1), newDevice(t, 2)
	_, pm, _ := Start(alice.dev, alice.cert, bob.bundle(t, true), []byte("hi"))
	before := bob.ring.Marshal()
	bad := bytes.Clone(pm)
	bad[len(bad)-1] ^= 1 // last byte of the GCM tag
	if _, err := Accept(bob.dev, bob.cert, bob.ring, bad); !errors.Is(err, ratchet.ErrAuth) {
		t.Fatalf("forged: got %v, want ratchet.ErrAuth", err)
	}
	if !bytes.Equal(bob.ring.Marshal(), before) {
		t.Fatal("a forged prekey message changed the keyring")
	}
	if _, err := Accept(bob.dev, bob.cert, bob.ring, pm); err != nil {
		t.Fatalf("the genuine message is refused after a forgery: %v", err)
	}
}

func TestPreKeyMessageTamperingDetected(t *testing.T) {
	alice, bob := newDevice(t, 1), newDevice(t, 2)
	_, pm, _ := Start(alice.dev, alice.cert, bob.bundle(t, true), []byte("hi"))
	before := bob.ring.Marshal()
	// Every byte: certificate, ids, base key, KEM ciphertext, ratchet header
	// and ciphertext. Sampled in steps to keep the test quick; the step is
	// co-prime with every field size so all fields are hit.
	for i := 0; i < len(pm); i += 7 {
		m := bytes.Clone(pm)
		m[i] ^= 0x40
		if _, err := Accept(bob.dev, bob.cert, bob.ring, m); err == nil {
			t.Fatalf("changing byte %d of the prekey message went undetected", i)
		}
	}
	testkit.FlipEachByte(t, pm[len(pm)-60:], func(i int, tail []byte) bool {
		m := append(bytes.Clone(pm[:len(pm)-60]), tail...)
		_, err := Accept(bob.dev, bob.cert, bob.ring, m)
		return err != nil
	})
	if !bytes.Equal(bob.ring.Marshal(), before) {
		t.Fatal("tampered messages changed the keyring")
	}
}

func TestWrongResponderCannotAccept(t *testing.T) {
	alice, bob, carol := newDevice(t, 1), newDevice(t, 2), newDevice(t, 3)
	_, pm, _ := Start(alice.dev, alice.cert, bob.bundle(t, false), []byte("for bob"))
	if _, err := Accept(carol.dev, carol.cert, carol.ring, pm); err == nil {
		t.Fatal("another device accepted a prekey message not meant for it")
	}
}

// BenchmarkSessionSetup measures both sides of a setup, including the
// first message: Start (verify bundle, PQXDH, ratchet init, encrypt) and
// Accept (parse, PQXDH, ratchet init, decrypt).
func BenchmarkSessionSetup(b *testing.B) {
	alice, bob := newDevice(b, 1), newDevice(b, 2)
	bundle := bob.bundle(b, false)
	msg := make([]byte, 100)
	for b.Loop() {
		_, pm, err := Start(alice.dev, alice.cert, bundle, msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Accept(bob.dev, bob.cert, bob.ring, pm); err != nil {
			b.Fatal(err)
		}
	}
}
