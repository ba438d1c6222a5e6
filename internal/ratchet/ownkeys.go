package ratchet

import (
	"crypto/ecdh"
	"crypto/subtle"
	"sync"
)

// maxOwnKeys bounds ownKeys: one key per session that sent last, for
// the sessions a process runs at once.
const maxOwnKeys = 1024

// ownKeys holds the ratchet key pairs this process generated, by public
// key, until the State that generated one replaces it. A client stores
// and loads a State around every message, and the encoding carries the
// private key as bytes: parsing them into an *ecdh.PrivateKey computes
// the public key again, a scalar multiplication that is one of five in a
// DH ratchet round trip. The cache hands the receiving step the key the
// sending step generated instead.
//
// It keeps no secret the process's States do not: a key leaves when a
// State replaces it (stepSending), or, for a State dropped without
// stepping again, once maxOwnKeys newer keys came in. An entry is used
// only for a State whose private key equals it (ownKey), so a State
// that states another key's public part gets no key it does not hold.
var ownKeys keyCache

type keyCache struct {
	mu   sync.Mutex
	m    map[[keySize]byte]*ecdh.PrivateKey
	ring [maxOwnKeys][keySize]byte // public keys in the order they came
	next int                       // the ring slot to reuse next
}

// put caches k under its public key pub, evicting the oldest beyond
// maxOwnKeys.
func (c *keyCache) put(pub *[keySize]byte, k *ecdh.PrivateKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[keySize]byte]*ecdh.PrivateKey)
	}
	delete(c.m, c.ring[c.next]) // a key removed before leaves nothing to evict
	c.ring[c.next] = *pub
	c.next = (c.next + 1) % maxOwnKeys
	c.m[*pub] = k
}

// get returns the key cached under pub, or nil.
func (c *keyCache) get(pub *[keySize]byte) *ecdh.PrivateKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[*pub]
}

// remove drops the key cached under pub, if any.
func (c *keyCache) remove(pub *[keySize]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, *pub)
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// cachedOwnKey returns the cached key pair of s's ratchet key, or nil
// when there is none or its private key is not s's.
func (s *State) cachedOwnKey() *ecdh.PrivateKey {
	k := ownKeys.get(&s.dhsPub)
	if k == nil {
		return nil
	}
	var priv [keySize]byte
	copy(priv[:], k.Bytes())
	same := subtle.ConstantTimeCompare(priv[:], s.dhsPriv[:]) == 1
	clear(priv[:])
	if !same {
		return nil
	}
	return k
}
