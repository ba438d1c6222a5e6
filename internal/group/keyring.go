package group

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"

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
// skipped message keys of out-of-order messages. Chains are held by
// sender and key id together: a member that hands over another member's
// key id first does not keep the real chain out. It is secret (chain and
// message keys), and so is its MarshalBinary encoding. A Keyring is not
// safe for concurrent use.
type Keyring struct {
	group   ID
	chains  map[chainID]*recvChain
	skipped skippedStore
}

// chainID names a receiving chain: the member device that handed it over
// and its key id.
type chainID struct {
	from Address
	key  [pubSize]byte
}

func compareChainIDs(a, b chainID) int {
	if c := bytes.Compare(a.key[:], b.key[:]); c != 0 {
		return c
	}
	if c := strings.Compare(a.from.User, b.from.User); c != 0 {
		return c
	}
	return cmp.Compare(a.from.Device, b.from.Device)
}

type recvChain struct {
	from  Address
	epoch uint64
	ck    [keySize]byte
	next  uint32 // the iteration ck is at
}

// NewKeyring returns an empty Keyring for group id.
func NewKeyring(id ID) *Keyring {
	return &Keyring{group: id, chains: make(map[chainID]*recvChain)}
}

// Add stores the chain d hands over, from member device from. The caller
// checks that from is a current member device (State.HasDevice) and that d
// arrived over from's pairwise session. A chain already held from the same
// device is refused (ErrKnownKey): a replayed or rewound distribution
// cannot reopen messages already read. A key id another device handed
// over too is stored beside it (Claimants tells the caller): only the
// holder of the chain's signing key signs messages under it, and Decrypt
// attributes a message only to a chain it opens under.
func (k *Keyring) Add(from Address, d *Distribution) error {
	if d.GroupID != k.group {
		return ErrWrongGroup
	}
	id := chainID{from: from, key: d.KeyID}
	if _, ok := k.chains[id]; ok {
		return ErrKnownKey
	}
	if len(k.chains) >= MaxChains {
		return ErrFull
	}
	k.chains[id] = &recvChain{from: from, epoch: d.Epoch, ck: d.ChainKey, next: d.Iteration}
	return nil
}

// Next returns the iteration the chain with key id keyID from member
// device from is at, and whether the keyring holds that chain.
func (k *Keyring) Next(from Address, keyID [32]byte) (uint32, bool) {
	c, ok := k.chains[chainID{from: from, key: keyID}]
	if !ok {
		return 0, false
	}
	return c.next, true
}

// Claimants returns the member devices that handed over a chain with this
// key id, in order. More than one means one of them copied another's key
// id: a client reports it.
func (k *Keyring) Claimants(keyID [32]byte) []Address {
	var ids []chainID
	for id := range k.chains {
		if id.key == keyID {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, compareChainIDs)
	out := make([]Address, len(ids))
	for i, id := range ids {
		out[i] = id.from
	}
	return out
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

func (k *Keyring) drop(id chainID) {
	clear(k.chains[id].ck[:])
	delete(k.chains, id)
	k.skipped.removeChain(id)
}

// Decrypt opens a group message. It checks, in order: the encoding; the
// group (ErrWrongGroup); a chain with the message's key id and epoch
// (ErrUnknownKey); the sender's signature (ErrAuth); the iteration
// (ErrReplay, ErrTooFarAhead); the AEAD (ErrAuth). When several devices
// handed over the key id, the message is tried under each of their chains
// and attributed only when exactly one opens it (ErrAuth otherwise: the
// sender cannot be told). Only then does the Keyring change (copy, then
// commit).
func (k *Keyring) Decrypt(msg []byte) (*Received, error) {
	m, err := parseMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.group != k.group {
		return nil, ErrWrongGroup
	}
	var ids []chainID
	for id, c := range k.chains {
		if id.key == m.keyID && c.epoch == m.epoch {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, ErrUnknownKey
	}
	slices.SortFunc(ids, compareChainIDs)
	// The signature comes first: every member holds the chain key, so only
	// the signature tells this sender from another member.
	if !ed25519.Verify(ed25519.PublicKey(m.keyID[:]), signedMessage(m.signed), m.sig) {
		return nil, fmt.Errorf("%w: bad signature", ErrAuth)
	}
	var (
		opened  *pending
		openedC *recvChain
		openedS skipID
		pt      []byte
		firstE  error
	)
	for _, id := range ids {
		c := k.chains[id]
		p, sk, out, err := k.open(c, id, &m)
		if err != nil {
			if firstE == nil {
				firstE = err
			}
			continue
		}
		if opened != nil {
			p.wipe()
			opened.wipe()
			return nil, fmt.Errorf("%w: key id handed over by several member devices", ErrAuth)
		}
		opened, openedC, openedS, pt = p, c, sk, out
	}
	if opened == nil {
		return nil, firstE
	}
	defer opened.wipe()
	k.commit(openedC, openedS, opened)
	return &Received{From: openedC.from, Epoch: openedC.epoch, Iteration: m.iteration, Plaintext: pt}, nil
}

// open tries m under chain c (named id) without changing the Keyring.
func (k *Keyring) open(c *recvChain, id chainID, m *parsedMessage) (*pending, skipID, []byte, error) {
	sk := skipID{chain: id, iteration: m.iteration}
	p := &pending{}
	switch {
	case m.iteration < c.next:
		mk, ok := k.skipped.get(sk)
		if !ok {
			return nil, sk, nil, ErrReplay
		}
		p.mk, p.useSkipped = mk, true
	case m.iteration-c.next > MaxSkip:
		return nil, sk, nil, fmt.Errorf("%w: %d keys", ErrTooFarAhead, m.iteration-c.next)
	default:
		p.derive(c, sk)
	}
	aead, nonce := chainkey.NewExpander(labelMessageKey).AEAD(&p.mk)
	pt, err := aead.Open(nil, nonce, m.ciphertext, m.signed[:headerSize])
	if err != nil {
		p.wipe()
		return nil, sk, nil, ErrAuth
	}
	return p, sk, pt, nil
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
		p.skipped = append(p.skipped, skippedKey{id: skipID{chain: sk.chain, iteration: n}, mk: mk})
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
