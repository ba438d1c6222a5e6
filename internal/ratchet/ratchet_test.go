package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"testing"

	"github.com/hush-chat/hush/internal/wire"
)

func isReplay(err error) bool { return errors.Is(err, ErrReplay) }
func isAuth(err error) bool   { return errors.Is(err, ErrAuth) }
func isAhead(err error) bool  { return errors.Is(err, ErrTooFarAhead) }

// isRefusal accepts any error a bad message may legitimately produce.
func isRefusal(err error) bool {
	var we *wire.Error
	return errors.As(err, &we) || isAuth(err) || isReplay(err) || isAhead(err)
}

func TestPingPong(t *testing.T) {
	alice, bob := newPair(t)
	for round := range 40 {
		// Each side sends 1..3 messages, each exchange forcing DH steps.
		for i := range round%3 + 1 {
			decryptOK(t, bob, encrypt(t, alice, label("a", i)), label("a", i))
		}
		for i := range (round+1)%3 + 1 {
			decryptOK(t, alice, encrypt(t, bob, label("b", i)), label("b", i))
		}
	}
	if alice.past.len() == 0 || bob.past.len() == 0 {
		t.Fatal("no DH ratchet step happened")
	}
}

func TestLongOneDirectionRun(t *testing.T) {
	alice, bob := newPair(t)
	const n = 3000 // more than MaxSkip: the counter passes the window size
	for i := range n {
		decryptOK(t, bob, encrypt(t, alice, label("a", i)), label("a", i))
	}
	if bob.nr != n || alice.ns != n || bob.skipped.len() != 0 {
		t.Fatalf("counters: alice.ns=%d bob.nr=%d skipped=%d", alice.ns, bob.nr, bob.skipped.len())
	}
	for i := range 5 {
		decryptOK(t, alice, encrypt(t, bob, label("b", i)), label("b", i))
	}
	m := encrypt(t, alice, "after")
	if h, _, _ := parseMessage(m); h.Header.PN != n {
		t.Fatalf("pn = %d, want %d", h.Header.PN, n)
	}
	decryptOK(t, bob, m, "after")
}

func TestResponderCannotSendFirst(t *testing.T) {
	alice, bob := newPair(t)
	if _, err := bob.Encrypt([]byte("hi")); !errors.Is(err, ErrNotReady) {
		t.Fatalf("responder Encrypt before receiving: %v, want ErrNotReady", err)
	}
	decryptOK(t, bob, encrypt(t, alice, "hello"), "hello")
	decryptOK(t, alice, encrypt(t, bob, "hi"), "hi")

	var zero State
	if _, err := zero.Encrypt(nil); !errors.Is(err, ErrNotReady) {
		t.Fatalf("zero State Encrypt: %v", err)
	}
	if _, err := zero.Decrypt(encrypt(t, alice, "x")); !errors.Is(err, ErrNotReady) {
		t.Fatalf("zero State Decrypt: %v", err)
	}
	if _, err := zero.MarshalBinary(); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("zero State MarshalBinary: %v", err)
	}
}

func TestInitRefusesBadInput(t *testing.T) {
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	p, _ := ecdh.P256().GenerateKey(rand.Reader)
	lowOrder, _ := ecdh.X25519().NewPublicKey(make([]byte, 32))
	sk := make([]byte, 32)
	cases := map[string]func() error{
		"short secret": func() error { _, err := InitInitiator(sk[:31], nil, x.PublicKey()); return err },
		"long AD": func() error {
			_, err := InitResponder(sk, make([]byte, MaxAD+1), x)
			return err
		},
		"nil remote":      func() error { _, err := InitInitiator(sk, nil, nil); return err },
		"P-256 remote":    func() error { _, err := InitInitiator(sk, nil, p.PublicKey()); return err },
		"low-order point": func() error { _, err := InitInitiator(sk, nil, lowOrder); return err },
		"nil own":         func() error { _, err := InitResponder(sk, nil, nil); return err },
		"P-256 own":       func() error { _, err := InitResponder(sk, nil, p); return err },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	if _, err := InitResponder(sk, make([]byte, MaxAD), x); err != nil {
		t.Errorf("AD of exactly MaxAD bytes: %v", err)
	}
}

func TestPlaintextLimits(t *testing.T) {
	alice, bob := newPair(t)
	big := make([]byte, MaxPlaintext)
	big[len(big)-1] = 7
	m, err := alice.Encrypt(big)
	if err != nil || len(m) != MaxMessageSize-headerV2Max+headerV2Base+4+ChunkSize {
		t.Fatalf("MaxPlaintext: len %d, err %v", len(m), err)
	}
	if got, err := bob.Decrypt(m); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("MaxPlaintext round trip: %v", err)
	}
	if _, err := alice.Encrypt(make([]byte, MaxPlaintext+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("MaxPlaintext+1: %v, want ErrTooLarge", err)
	}
	decryptOK(t, bob, encrypt(t, alice, ""), "")
}

func TestSessionADIsBound(t *testing.T) {
	sk := make([]byte, 32)
	rand.Read(sk)
	prekey, _ := ecdh.X25519().GenerateKey(rand.Reader)
	alice, _ := InitInitiator(sk, []byte("alice|bob"), prekey.PublicKey())
	bob, _ := InitResponder(sk, []byte("alice|mallory"), prekey)
	refused(t, bob, encrypt(t, alice, "x"), isAuth, "other session AD")
}

func TestSendingChainExhausted(t *testing.T) {
	alice, _ := newPair(t)
	alice.ns = reservedN - 1
	m := encrypt(t, alice, "last")
	if h, _, _ := parseMessage(m); h.Header.N != reservedN-1 {
		t.Fatalf("n = %d", h.Header.N)
	}
	if _, err := alice.Encrypt([]byte("one too many")); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Encrypt past the last number: %v, want ErrExhausted", err)
	}
}

// TestRandomInterleavings runs conversations where each side sends at
// random and every message is delivered once, in a random order. Then every
// message is replayed.
func TestRandomInterleavings(t *testing.T) {
	for seed := range uint64(8) {
		rng := mrand.New(mrand.NewPCG(seed, 0x6861736b))
		runInterleaving(t, rng, 400)
	}
}

type sent struct {
	msg []byte
	pt  string
}

type party struct {
	s         *State
	inbox     []sent // sent to this party, not yet delivered
	delivered []sent
}

func runInterleaving(t *testing.T, rng *mrand.Rand, steps int) {
	alice, bob := newPair(t)
	a, b := &party{s: alice}, &party{s: bob}
	count := 0
	send := func(from, to *party) {
		if from == b && !b.s.remote {
			return // the responder cannot send first
		}
		count++
		pt := label("m", count)
		to.inbox = append(to.inbox, sent{encrypt(t, from.s, pt), pt})
	}
	deliver := func(to *party) {
		if len(to.inbox) == 0 {
			return
		}
		i := rng.IntN(len(to.inbox))
		m := to.inbox[i]
		to.inbox = append(to.inbox[:i], to.inbox[i+1:]...)
		decryptOK(t, to.s, m.msg, m.pt)
		to.delivered = append(to.delivered, m)
	}
	for range steps {
		switch rng.IntN(4) {
		case 0:
			send(a, b)
		case 1:
			send(b, a)
		case 2:
			deliver(a)
		case 3:
			deliver(b)
		}
	}
	for len(a.inbox)+len(b.inbox) > 0 {
		deliver(a)
		deliver(b)
	}
	for _, p := range []*party{a, b} {
		for _, m := range p.delivered {
			refused(t, p.s, m.msg, isReplayOrRetired(p.s, m.msg), "replay")
		}
	}
}

// isReplayOrRetired expects ErrReplay, or ErrAuth for a message whose chain
// was retired longer ago than MaxPastChains remembers.
func isReplayOrRetired(s *State, msg []byte) func(error) bool {
	m, _, _ := parseMessage(msg)
	_, known := s.past.find(&m.Header.DH)
	known = known || m.Header.DH == s.dhrPub
	return func(err error) bool {
		return isReplay(err) || (!known && isAuth(err))
	}
}
