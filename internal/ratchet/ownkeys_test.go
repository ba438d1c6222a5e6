package ratchet

import (
	"bytes"
	"testing"
)

// reload returns s stored and loaded again, as a client does around
// every message.
func reload(t *testing.T, s *State) *State {
	t.Helper()
	var l State
	if err := l.UnmarshalBinary(marshal(t, s)); err != nil {
		t.Fatal(err)
	}
	return &l
}

// A State loaded from its encoding takes its receiving DH step with the
// key pair this process generated at its sending step, instead of
// computing the public key from the private one again (an X25519 scalar
// multiplication per round trip).
func TestLoadedStateReusesGeneratedKey(t *testing.T) {
	alice, bob := newPair(t)
	decryptOK(t, bob, encrypt(t, alice, "hi"), "hi")
	m := encrypt(t, bob, "a new ratchet key") // bob's sending step
	generated := bob.dhs
	decryptOK(t, alice, m, "a new ratchet key")
	reply := encrypt(t, alice, "back") // alice's sending step: bob's receiving step next
	loaded := reload(t, bob)
	if loaded.dhs != nil {
		t.Fatal("loading parsed the private key")
	}
	k, err := loaded.ownKey()
	if err != nil || k != generated {
		t.Fatalf("ownKey after a load = %p (%v), want the generated key %p", k, err, generated)
	}
	decryptOK(t, loaded, reply, "back")
}

// Security regression: the cache of generated keys is keyed by public
// key, which a State's encoding states separately from its private key;
// a State whose private key is not the cached one's uses its own.
func TestLoadedStateWithOtherPrivateKeyIgnoresCache(t *testing.T) {
	alice, bob := newPair(t)
	decryptOK(t, bob, encrypt(t, alice, "hi"), "hi")
	encrypt(t, bob, "a new ratchet key")
	loaded := reload(t, bob)
	loaded.dhsPriv[0] ^= 1
	k, err := loaded.ownKey()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.Bytes(), loaded.dhsPriv[:]) {
		t.Fatal("ownKey returned the cached key for another private key")
	}
}

// Forward secrecy: once a State replaced its ratchet key pair with a new
// one, the process keeps no copy of the old one for later loads.
func TestReplacedKeyLeavesCache(t *testing.T) {
	alice, bob := newPair(t)
	decryptOK(t, bob, encrypt(t, alice, "hi"), "hi")
	decryptOK(t, alice, encrypt(t, bob, "one"), "one")
	old := bob.dhsPub
	if ownKeys.get(&old) == nil {
		t.Fatal("the generated key is not cached")
	}
	decryptOK(t, bob, encrypt(t, alice, "two"), "two")
	encrypt(t, bob, "three") // bob's next sending step replaces the key
	if ownKeys.get(&old) != nil {
		t.Fatal("a replaced ratchet key is still cached")
	}
	if ownKeys.get(&bob.dhsPub) != bob.dhs {
		t.Fatal("the new key is not cached")
	}
}

// The cache is bounded: keys of States dropped without stepping again
// leave it after maxOwnKeys newer ones.
func TestOwnKeysBounded(t *testing.T) {
	alice, _ := newPair(t)
	first := alice.dhsPub
	for range maxOwnKeys {
		newPair(t)
	}
	if ownKeys.get(&first) != nil {
		t.Fatal("the cache kept a key beyond maxOwnKeys newer ones")
	}
	if n := ownKeys.len(); n > maxOwnKeys {
		t.Fatalf("%d cached keys, limit %d", n, maxOwnKeys)
	}
}
