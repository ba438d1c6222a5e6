// Package ratchet implements the hush Double Ratchet: the per-message
// encryption of a session after its setup (internal/pqxdh) produced a shared
// secret and the session associated data.
//
// The package promises:
//   - confidentiality and integrity of each message under AES-256-GCM with a
//     key used for exactly one message; the header is authenticated, not
//     encrypted (it travels inside a sealed envelope);
//   - forward secrecy: a message key is deleted once used, and a chain key
//     only moves forward, so a state stolen later cannot open earlier
//     messages it already opened;
//   - post-compromise security: once a fresh X25519 ratchet key has been
//     used in both directions after a theft, the stolen state no longer
//     opens new messages; in a version 2 session (the default), also
//     against an adversary who can break X25519, once an ML-KEM-768
//     exchange made after the theft is mixed into the root key (the sparse
//     post-quantum ratchet, SPEC §5.12: the key and ciphertext travel in
//     64-byte chunks, one per message);
//   - out-of-order delivery of up to MaxSkip messages per chain, with at most
//     MaxStoredSkipped keys kept for late messages (oldest evicted first);
//   - every message decrypts at most once (ErrReplay);
//   - a message that fails any check (encoding, limits, replay,
//     authentication) leaves the State exactly as it was.
//
// It promises nothing about traffic analysis (message numbers and ratchet
// keys are visible to whoever sees the header), nor about deleting secrets
// from memory the Go runtime copied: wiping here is best effort.
//
// The package is pure: no I/O, no clock. Randomness comes from crypto/rand.
// Its one process-wide state is a bounded cache of the ratchet key pairs
// it generated (ownkeys.go), each dropped when its State replaces it, so
// that a State stored and loaded around every message does not recompute
// its public key; it is safe for concurrent use.
package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/hush-chat/hush/internal/chainkey"
	"slices"
	"sync"
)

// Limits of the protocol.
const (
	// MaxSkip is how far ahead of a chain's counter a message number may be;
	// it bounds the keys one message can make the receiver derive.
	MaxSkip = 2000
	// MaxStoredSkipped bounds the skipped-key store; beyond it the oldest
	// keys are evicted and their messages can no longer be read.
	MaxStoredSkipped = 2000
	// MaxPastChains is how many retired receiving chains a State remembers
	// to classify late replays from them as ErrReplay.
	MaxPastChains = 64
	// MaxPlaintext is the largest plaintext one message carries.
	MaxPlaintext = 1 << 20
	// MaxAD is the largest session associated data.
	MaxAD = 1024
)

// Errors other than decoding errors (which are *wire.Error). Check them with
// errors.Is; they may be wrapped with detail that never contains key or
// plaintext bytes.
var (
	// ErrAuth: the message did not authenticate (forged, tampered, or meant
	// for another session).
	ErrAuth = errors.New("ratchet: message authentication failed")
	// ErrReplay: the message's key was already used or is gone; a message is
	// decrypted at most once.
	ErrReplay = errors.New("ratchet: message already received or its key is gone")
	// ErrTooFarAhead: reading the message would skip more than MaxSkip keys
	// in one chain.
	ErrTooFarAhead = errors.New("ratchet: message too far ahead of its chain")
	// ErrTooLarge: a plaintext longer than MaxPlaintext.
	ErrTooLarge = errors.New("ratchet: plaintext too large")
	// ErrNotReady: the State cannot send yet. A responder has no remote
	// ratchet key until it has decrypted the initiator's first message.
	ErrNotReady = errors.New("ratchet: cannot send before receiving the first message")
	// ErrExhausted: the sending chain reached 2^32-1 messages; the session
	// must receive (and so ratchet) before it sends again.
	ErrExhausted = errors.New("ratchet: sending chain exhausted")
	// ErrInvalidInput: an argument to InitInitiator or InitResponder is
	// unusable.
	ErrInvalidInput = errors.New("ratchet: invalid input")
)

// State is one party's Double Ratchet state for one session.
//
// It holds secrets: root, chain and skipped message keys and the private
// ratchet key. Its MarshalBinary encoding holds the same secrets and must
// be stored as confidentially as the keys themselves.
//
// A State is not safe for concurrent use. The zero State is not usable:
// build one with InitInitiator, InitResponder or UnmarshalBinary.
type State struct {
	ad []byte // session associated data, at most MaxAD bytes

	rk        [keySize]byte    // root key
	own       bool             // dhsPriv is set (false only in the zero State)
	dhsPriv   [keySize]byte    // own current ratchet private key
	dhsPub    [keySize]byte    // its public part, stored so loading needs no scalar multiplication
	dhs       *ecdh.PrivateKey // dhsPriv parsed; built when first needed, not state
	remote    bool             // dhrPub is set: the remote ratchet key is known
	dhrPub    [keySize]byte    // remote current ratchet key
	dhr       *ecdh.PublicKey  // dhrPub parsed; built when first needed, not state
	cks       [keySize]byte    // sending chain key, valid if sending
	ckr       [keySize]byte    // receiving chain key, valid if receiving
	ns        uint32           // messages sent in the sending chain
	nr        uint32           // next expected number in the receiving chain
	pn        uint32           // messages in the previous sending chain
	sending   bool             // cks is valid; false means the next Encrypt ratchets
	receiving bool             // ckr is valid

	// The post-quantum ratchet (pqs), held in the State rather than
	// behind a pointer: a State loaded per message then costs no
	// allocation for it.
	pq     pqState
	v2     bool // pq is in use: a version 2 session
	sendV2 bool // the current sending chain writes version 2 messages
	mixed  bool // the step that started the sending chain mixed a PQ secret
	peerV2 bool // the peer sends version 2: a version 1 DH step is a downgrade

	skipped skippedStore
	past    pastChains
}

func newState(sk, ad []byte, own *ecdh.PrivateKey) (*State, error) {
	if len(sk) != keySize {
		return nil, fmt.Errorf("%w: shared secret is %d bytes, want %d", ErrInvalidInput, len(sk), keySize)
	}
	if len(ad) > MaxAD {
		return nil, fmt.Errorf("%w: associated data is %d bytes, limit %d", ErrInvalidInput, len(ad), MaxAD)
	}
	s := &State{ad: bytes.Clone(ad)}
	s.setOwn(own)
	copy(s.rk[:], sk)
	return s, nil
}

func (s *State) setOwn(k *ecdh.PrivateKey) {
	s.own = true
	s.dhs = k
	copy(s.dhsPriv[:], k.Bytes())
	copy(s.dhsPub[:], k.PublicKey().Bytes())
}

// ownKey returns the own ratchet private key, on first use after a load
// the one this process generated (ownKeys), else parsed. Parsing computes
// the public key again, so it is left to the DH steps that need the
// private key rather than done on every load.
func (s *State) ownKey() (*ecdh.PrivateKey, error) {
	if s.dhs == nil {
		s.dhs = s.cachedOwnKey()
	}
	if s.dhs == nil {
		k, err := ecdh.X25519().NewPrivateKey(s.dhsPriv[:])
		if err != nil {
			return nil, err
		}
		s.dhs = k
	}
	return s.dhs, nil
}

func (s *State) setRemote(k *ecdh.PublicKey) {
	s.remote, s.dhr = true, k
	copy(s.dhrPub[:], k.Bytes())
}

// remoteKey returns the remote ratchet key, parsing it on first use after
// a load: only a sending DH step needs it, so a load does not allocate it.
func (s *State) remoteKey() (*ecdh.PublicKey, error) {
	if s.dhr == nil {
		k, err := ecdh.X25519().NewPublicKey(s.dhrPub[:])
		if err != nil {
			return nil, err
		}
		s.dhr = k
	}
	return s.dhr, nil
}

// InitInitiator starts the session initiator's (Alice's) State of a
// version 2 session, with the post-quantum ratchet (SPEC §5.12). sk is the
// 32-byte shared secret of session setup, ad the session associated data
// (at most MaxAD bytes), remote the responder's signed prekey, which serves
// as the responder's first ratchet key. It generates a fresh ratchet key
// pair and performs the first sending DH ratchet step, so the initiator can
// send at once. The caller should wipe sk afterwards.
//
// The responder's release must read version 2 messages; for a peer that
// reads only version 1, use InitInitiatorV1.
func InitInitiator(sk, ad []byte, remote *ecdh.PublicKey) (*State, error) {
	s, err := initInitiator(sk, ad, remote)
	if err != nil {
		return nil, err
	}
	s.pq, s.v2 = pqState{epoch: 1, phase: pqNeedKey}, true
	s.sendV2, s.peerV2 = true, true
	return s, nil
}

// InitInitiatorV1 is InitInitiator for a version 1 session: classical
// Double Ratchet messages that every release reads. Upgrade moves the
// session to version 2 later.
func InitInitiatorV1(sk, ad []byte, remote *ecdh.PublicKey) (*State, error) {
	return initInitiator(sk, ad, remote)
}

func initInitiator(sk, ad []byte, remote *ecdh.PublicKey) (*State, error) {
	if remote == nil || remote.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%w: remote ratchet key must be X25519", ErrInvalidInput)
	}
	own, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	s, err := newState(sk, ad, own)
	if err != nil {
		return nil, err
	}
	shared, err := own.ECDH(remote)
	if err != nil {
		// A low-order remote key would give an all-zero, public DH output.
		return nil, fmt.Errorf("%w: remote ratchet key is a low-order point", ErrInvalidInput)
	}
	ownKeys.put(&s.dhsPub, own)
	s.setRemote(remote)
	s.rk, s.cks = kdfRoot(&s.rk, shared)
	clear(shared)
	s.sending = true
	return s, nil
}

// InitResponder starts the responder's (Bob's) State. own is the signed
// prekey pair whose public part the initiator used; it is Bob's first
// ratchet key. The responder cannot send until it has decrypted a message
// (ErrNotReady). The session takes the version of the initiator's first
// message. The caller should wipe sk afterwards.
func InitResponder(sk, ad []byte, own *ecdh.PrivateKey) (*State, error) {
	if own == nil || own.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%w: own ratchet key must be X25519", ErrInvalidInput)
	}
	return newState(sk, ad, own)
}

// expanders holds message-key expanders, shared by all States: an
// Expander's HMAC is keyed with a public constant and reset after each
// use, so it holds no secret between uses, and a State loaded per message
// would otherwise build one (four allocations) per message.
var expanders = sync.Pool{New: func() any { return chainkey.NewExpander(labelMessage) }}

// additionalData writes ad || header to dst, len(s.ad)+len(header)
// bytes, and returns it. Callers place it after the message or plaintext
// in one allocation with it, beyond the capacity they return.
func (s *State) additionalData(dst, header []byte) []byte {
	copy(dst[copy(dst, s.ad):], header)
	return dst
}

// Encrypt seals plaintext (at most MaxPlaintext bytes) as the next message
// of the sending chain and returns its encoding. After the State received
// a new remote ratchet key, Encrypt first generates a fresh ratchet key pair
// (a sending DH ratchet step). In a version 2 session the message carries
// the next post-quantum chunk, and Encrypt may generate an ML-KEM key pair.
func (s *State) Encrypt(plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(plaintext), MaxPlaintext)
	}
	if !s.remote {
		return nil, ErrNotReady
	}
	if s.sending && s.ns == reservedN {
		return nil, ErrExhausted
	}
	// The ML-KEM key is generated before anything changes, so a failure
	// leaves the State as it was.
	if s.v2 && s.pq.phase == pqNeedKey && (s.sendV2 || !s.sending) {
		if err := s.pq.generate(); err != nil {
			return nil, err
		}
	}
	if !s.sending {
		if err := s.stepSending(); err != nil {
			return nil, err
		}
	}
	mk, next := chainkey.Step(&s.cks)
	h := Header{Version: messageV1, DH: s.dhsPub, PN: s.pn, N: s.ns}
	if s.sendV2 {
		h.Version, h.PQ = messageV2, s.pq.outgoing()
		h.PQ.Mixed = s.mixed
	}
	n := h.size() + len(plaintext) + tagSize
	buf := make([]byte, n+len(s.ad)+h.size())
	out := appendHeader(buf[:0:n], &h)
	ad := s.additionalData(buf[n:], out)
	e := expanders.Get().(*chainkey.Expander)
	out = seal(e, &mk, out, plaintext, ad)
	expanders.Put(e)
	s.cks = next
	s.ns++
	clear(mk[:])
	clear(next[:])
	return out, nil
}

// stepSending is the sending half of a DH ratchet step: a new ratchet key
// pair, and a new root and sending chain from DH(new key, remote key), with
// the post-quantum secret mixed in if the State holds one to mix.
func (s *State) stepSending() error {
	own, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	remote, err := s.remoteKey()
	if err != nil {
		return err
	}
	shared, err := own.ECDH(remote)
	if err != nil {
		return fmt.Errorf("%w: remote ratchet key is a low-order point", ErrAuth)
	}
	s.mixed = false
	if s.v2 && s.pq.phase == pqMix {
		s.rk, s.cks = kdfRootPQ(&s.rk, shared, &s.pq.ss)
		s.pq.enter(s.pq.epoch+1, pqCollectEK)
		s.mixed = true
	} else {
		s.rk, s.cks = kdfRoot(&s.rk, shared)
	}
	clear(shared)
	// The old key pair is no longer this State's: the process keeps no
	// copy of it (forward secrecy); the new one awaits the receiving step.
	ownKeys.remove(&s.dhsPub)
	s.setOwn(own)
	ownKeys.put(&s.dhsPub, own)
	s.pn, s.ns = s.ns, 0
	s.sending = true
	s.sendV2 = s.v2
	return nil
}

// Upgrade moves a version 1 session to version 2: from its next sending DH
// ratchet step on, the State writes version 2 messages and starts the
// post-quantum ratchet as the party that sends the first encapsulation key.
// The peer's release must read version 2 messages; its State upgrades when
// it receives the first one. Upgrade does nothing to a version 2 session.
func (s *State) Upgrade() {
	if !s.v2 {
		s.pq, s.v2 = pqState{epoch: 1, phase: pqNeedKey}, true
	}
}

// Version is the session's protocol version: 1 for the classical Double
// Ratchet, 2 once the post-quantum ratchet runs (or is set to start at the
// next sending step).
func (s *State) Version() int {
	if !s.v2 {
		return 1
	}
	return 2
}

// PQEpoch is the State's post-quantum epoch (0 in a version 1 session):
// epochs below it had their secret mixed into the root key. It changes
// nothing.
func (s *State) PQEpoch() uint32 {
	if !s.v2 {
		return 0
	}
	return s.pq.epoch
}

// SkippedKeys is how many message keys the state holds for messages it
// skipped: messages the peer sent that have not arrived (or whose keys
// were evicted). It changes nothing.
func (s *State) SkippedKeys() int { return s.skipped.len() }

// Clone returns an independent deep copy of s. The ecdh keys are shared:
// they are immutable.
func (s *State) Clone() *State {
	c := *s
	c.ad = bytes.Clone(s.ad)
	c.skipped = s.skipped.clone()
	c.past = slices.Clone(s.past)
	return &c
}
