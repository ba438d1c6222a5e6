package group

import (
	"crypto/ed25519"
	"fmt"
	"github.com/hush-chat/hush/internal/chainkey"
)

// Address names the member device a sending chain belongs to, as the
// client learned it from the pairwise session that carried the
// distribution.
type Address struct {
	User   string
	Device uint32
}

// Received is an opened group message.
type Received struct {
	From      Address
	Epoch     uint64
	Iteration uint32
	Plaintext []byte
}

// Keyring is one member device's receiving chains for one group, with the
// skipped message keys of out-of-order messages. It is secret (chain and
// message keys), and so is its MarshalBinary encoding. A Keyring is not
// safe for concurrent use.
type Keyring struct {
	group   ID
	chains  map[[pubSize]byte]*recvChain
	skipped skippedStore
}

type recvChain struct {
	from  Address
	epoch uint64
	ck    [keySize]byte
	next  uint32 // the iteration ck is at
}

// NewKeyring returns an empty Keyring for group id.
func NewKeyring(id ID) *Keyring {
	return &Keyring{group: id, chains: make(map[[pubSize]byte]*recvChain)}
}

// Add stores the chain d hands over, from member device from. The caller
// checks that from is a current member device (State.HasDevice) and that d
// arrived over from's pairwise session. A chain already held is refused
// (ErrKnownKey): a replayed or rewound distribution cannot reopen messages
// already read.
func (k *Keyring) Add(from Address, d *Distribution) error {
	if d.GroupID != k.group {
		return ErrWrongGroup
	}
	if _, ok := k.chains[d.KeyID]; ok {
		return ErrKnownKey
	}
	if len(k.chains) >= MaxChains {
		return ErrFull
	}
	k.chains[d.KeyID] = &recvChain{from: from, epoch: d.Epoch, ck: d.ChainKey, next: d.Iteration}
	return nil
}

// Forget deletes every chain of user and their stored keys (a member who
// left or was removed): nothing that user signs opens afterwards.
func (k *Keyring) Forget(user string) {
	for id, c := range k.chains {
		if c.from.User == user {
			k.drop(id)
		}
	}
}

// Prune deletes the chains made for epochs before epoch (after rotation,
// once late messages of the old epoch had their time).
func (k *Keyring) Prune(epoch uint64) {
	for id, c := range k.chains {
		if c.epoch < epoch {
			k.drop(id)
		}
	}
}

func (k *Keyring) drop(id [pubSize]byte) {
	clear(k.chains[id].ck[:])
	delete(k.chains, id)
	k.skipped.removeChain(id)
}

// Decrypt opens a group message. It checks, in order: the encoding; the
// group (ErrWrongGroup); a chain with the message's key id and epoch
// (ErrUnknownKey); the sender's signature (ErrAuth); the iteration
// (ErrReplay, ErrTooFarAhead); the AEAD (ErrAuth). Only then does the
// Keyring change (copy, then commit).
func (k *Keyring) Decrypt(msg []byte) (*Received, error) {
	m, err := parseMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.group != k.group {
		return nil, ErrWrongGroup
	}
	c, ok := k.chains[m.keyID]
	if !ok || c.epoch != m.epoch {
		return nil, ErrUnknownKey
	}
	// The signature comes first: every member holds the chain key, so only
	// the signature tells this sender from another member.
	if !ed25519.Verify(ed25519.PublicKey(m.keyID[:]), signedMessage(m.signed), m.sig) {
		return nil, fmt.Errorf("%w: bad signature", ErrAuth)
	}
	sk := skipID{key: m.keyID, iteration: m.iteration}
	var p pending
	defer p.wipe()
	switch {
	case m.iteration < c.next:
		mk, ok := k.skipped.get(sk)
		if !ok {
			return nil, ErrReplay
		}
		p.mk, p.useSkipped = mk, true
	case m.iteration-c.next > MaxSkip:
		return nil, fmt.Errorf("%w: %d keys", ErrTooFarAhead, m.iteration-c.next)
	default:
		p.derive(c, sk)
	}
	aead, nonce := chainkey.NewExpander(labelMessageKey).AEAD(&p.mk)
	pt, err := aead.Open(nil, nonce, m.ciphertext, m.signed[:headerSize])
	if err != nil {
		return nil, ErrAuth
	}
	k.commit(c, sk, &p)
	return &Received{From: c.from, Epoch: c.epoch, Iteration: m.iteration, Plaintext: pt}, nil
}

// pending is what one Decrypt changes, applied only after the message
// opened.
type pending struct {
	mk         [keySize]byte
	useSkipped bool
	ck         [keySize]byte // the chain after the message
	skipped    []skippedKey  // keys of the iterations passed over
}

func (p *pending) wipe() {
	clear(p.mk[:])
	clear(p.ck[:])
	for i := range p.skipped {
		clear(p.skipped[i].mk[:])
	}
}

// derive walks a copy of c's chain to sk.iteration, keeping the keys it
// passes.
func (p *pending) derive(c *recvChain, sk skipID) {
	p.ck = c.ck
	for n := c.next; n < sk.iteration; n++ {
		mk, next := chainkey.Step(&p.ck)
		p.skipped = append(p.skipped, skippedKey{id: skipID{key: sk.key, iteration: n}, mk: mk})
		p.ck = next
	}
	mk, next := chainkey.Step(&p.ck)
	p.mk, p.ck = mk, next
}

func (k *Keyring) commit(c *recvChain, sk skipID, p *pending) {
	if p.useSkipped {
		k.skipped.remove(sk)
		return
	}
	for i := range p.skipped {
		k.skipped.push(&p.skipped[i])
	}
	c.ck = p.ck
	c.next = sk.iteration + 1
}
