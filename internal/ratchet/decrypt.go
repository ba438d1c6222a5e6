package ratchet

import (
	"crypto/ecdh"
	"fmt"
	"github.com/hush-chat/hush/internal/chainkey"
)

// pending is every change one Decrypt would make to the State. Decrypt
// derives into a pending and applies it only after the message
// authenticated, so a refused message changes nothing (copy, then commit),
// without copying the skipped-key store.
type pending struct {
	useSkipped bool   // the message used a stored key ...
	skippedID  skipID // ... this one, to delete

	step    bool            // a receiving DH ratchet step to a new remote key
	dhr     *ecdh.PublicKey // the new remote ratchet key
	rk      [keySize]byte   // the new root key
	retired uint32          // end of the receiving chain the step retires

	advance bool // the receiving chain moves to (ckr, nr)
	ckr     [keySize]byte
	nr      uint32

	skipped []skippedKey // keys for messages passed over, oldest first

	mixed  bool     // the step mixed the post-quantum secret of s.pq
	peerV2 bool     // the step was a version 2 message
	pq     *pqState // the new post-quantum state; nil: unchanged
}

func (p *pending) wipe() {
	clear(p.rk[:])
	clear(p.ckr[:])
	p.pq.wipe()
	for i := range p.skipped {
		clear(p.skipped[i].mk[:])
	}
}

// skipTo stores the keys of the chain (p.ckr, p.nr) up to, not including,
// until.
func (p *pending) skipTo(pub *[keySize]byte, until uint32) {
	for p.nr < until {
		mk, next := chainkey.Step(&p.ckr)
		p.skipped = append(p.skipped, skippedKey{id: skipID{pub: *pub, n: p.nr}, mk: mk})
		p.ckr = next
		p.nr++
		clear(next[:])
	}
}

// keyAt skips to n and returns the message key for n, leaving the chain at
// n+1.
func (p *pending) keyAt(pub *[keySize]byte, n uint32) [keySize]byte {
	p.skipTo(pub, n)
	mk, next := chainkey.Step(&p.ckr)
	p.ckr = next
	p.nr = n + 1 // n < reservedN: parseMessage refused it
	clear(next[:])
	return mk
}

// Decrypt authenticates and decrypts an encoded Message and returns its
// plaintext. It fails with a *wire.Error for a bad encoding, ErrReplay,
// ErrTooFarAhead, ErrAuth or ErrNotReady; on any failure the State is left
// exactly as it was. Only after authentication does it delete the used key,
// store the keys of skipped messages, for a new remote ratchet key step the
// ratchet, and take in the message's post-quantum chunk (which may cost an
// ML-KEM encapsulation or decapsulation).
func (s *State) Decrypt(message []byte) ([]byte, error) {
	if !s.own {
		return nil, ErrNotReady
	}
	m, hlen, err := parseMessage(message)
	if err != nil {
		return nil, err
	}
	var p pending
	defer p.wipe()
	mk, err := s.receiveKey(&m.Header, &p)
	if err != nil {
		return nil, err
	}
	e := expanders.Get().(*chainkey.Expander)
	n := max(0, len(m.Ciphertext)-tagSize)
	buf := make([]byte, n+len(s.ad)+hlen)
	ad := s.additionalData(buf[n:], message[:hlen])
	plaintext, err := open(e, &mk, buf[:0:n], m.Ciphertext, ad)
	expanders.Put(e)
	clear(mk[:])
	if err != nil {
		return nil, ErrAuth
	}
	if err := s.receivePQ(&m.Header, &p); err != nil {
		clear(plaintext)
		return nil, err
	}
	s.commit(&p)
	return plaintext, nil
}

// receivePQ computes into p the post-quantum state after an authenticated
// message with header h.
func (s *State) receivePQ(h *Header, p *pending) error {
	if h.Version != messageV2 {
		return nil
	}
	q := s.pqs()
	// The first version 2 message of a version 1 State, or one that
	// arrives before this party sent any of its own, makes it the side that
	// answers the peer's first key.
	if q == nil || (q.epoch == 1 && q.phase == pqNeedKey && !s.sendV2) {
		p.pq = &pqState{epoch: 1, phase: pqCollectEK}
		q = p.pq
	}
	n, err := q.receive(&h.PQ, p.mixed)
	if err != nil {
		return err
	}
	if n != nil {
		p.pq.wipe()
		p.pq = n
	}
	return nil
}

// receiveKey finds or derives the key for a message with header h,
// recording in p what the State must change if the message authenticates.
// It does not change s.
func (s *State) receiveKey(h *Header, p *pending) ([keySize]byte, error) {
	id := skipID{pub: h.DH, n: h.N}
	if mk, ok := s.skipped.get(id); ok {
		p.useSkipped, p.skippedID = true, id
		return mk, nil
	}
	if s.receiving && h.DH == s.dhrPub {
		// Below the counter with no stored key: this key was used (or
		// evicted). Refusing stops replays.
		if h.N < s.nr {
			return [keySize]byte{}, ErrReplay
		}
		// Bounds the HMACs a forged header can make us compute.
		if h.N-s.nr > MaxSkip {
			return [keySize]byte{}, fmt.Errorf("%w: %d keys to skip, limit %d", ErrTooFarAhead, h.N-s.nr, MaxSkip)
		}
		p.advance, p.ckr, p.nr = true, s.ckr, s.nr
		return p.keyAt(&h.DH, h.N), nil
	}
	if c, ok := s.past.find(&h.DH); ok {
		// A retired chain: its keys are stored, used or gone. Without this
		// check the message would be taken for a DH step and fail later.
		if h.N < c.end {
			return [keySize]byte{}, ErrReplay
		}
		return [keySize]byte{}, fmt.Errorf("%w: message beyond the end of a retired chain", ErrAuth)
	}
	return s.receiveStep(h, p)
}

// receiveStep derives the keys for a message under a new remote ratchet
// key: the rest of the current receiving chain up to h.PN, then the new
// receiving chain from the root KDF.
func (s *State) receiveStep(h *Header, p *pending) ([keySize]byte, error) {
	// Both limits are checked before the X25519 and HMAC work they bound.
	if h.N > MaxSkip {
		return [keySize]byte{}, fmt.Errorf("%w: %d keys to skip in the new chain, limit %d", ErrTooFarAhead, h.N, MaxSkip)
	}
	if s.receiving && h.PN > s.nr && h.PN-s.nr > MaxSkip {
		return [keySize]byte{}, fmt.Errorf("%w: %d keys to skip in the previous chain, limit %d", ErrTooFarAhead, h.PN-s.nr, MaxSkip)
	}
	// Once the peer sent version 2, a version 1 chain is a downgrade.
	if h.Version != messageV2 && s.peerV2 {
		return [keySize]byte{}, fmt.Errorf("%w: version 1 ratchet step in a version 2 session", ErrAuth)
	}
	// A step can only mix a secret this State holds (it encapsulated).
	if h.PQ.Mixed && (!s.v2 || s.pq.phase != pqSendCT) {
		return [keySize]byte{}, errPQ
	}
	dhr, err := ecdh.X25519().NewPublicKey(h.DH[:])
	if err != nil {
		return [keySize]byte{}, fmt.Errorf("%w: bad ratchet key", ErrAuth)
	}
	own, err := s.ownKey()
	if err != nil {
		return [keySize]byte{}, err
	}
	shared, err := own.ECDH(dhr)
	if err != nil {
		// A low-order key would make the DH output public.
		return [keySize]byte{}, fmt.Errorf("%w: low-order ratchet key", ErrAuth)
	}
	if s.receiving {
		p.ckr, p.nr = s.ckr, s.nr
		p.skipTo(&s.dhrPub, h.PN)
		p.retired = p.nr
	}
	p.step, p.dhr = true, dhr
	p.peerV2 = h.Version == messageV2
	if h.PQ.Mixed {
		p.mixed = true
		p.rk, p.ckr = kdfRootPQ(&s.rk, shared, &s.pq.ss)
	} else {
		p.rk, p.ckr = kdfRoot(&s.rk, shared)
	}
	clear(shared)
	p.advance, p.nr = true, 0
	return p.keyAt(&h.DH, h.N), nil
}

// commit applies p to s. It cannot fail.
func (s *State) commit(p *pending) {
	if p.useSkipped {
		s.skipped.remove(p.skippedID)
	}
	if p.step {
		if s.receiving {
			s.past = s.past.push(pastChain{pub: s.dhrPub, end: p.retired})
		}
		s.setRemote(p.dhr)
		s.rk = p.rk
		s.receiving = true
		// The next Encrypt generates a new ratchet key pair.
		s.sending, s.sendV2, s.mixed = false, false, false
		clear(s.cks[:])
		if p.peerV2 {
			s.peerV2 = true
		}
	}
	if p.pq != nil {
		s.pq.wipe()
		s.pq, s.v2 = *p.pq, true // p.pq is wiped with p
	}
	if p.advance {
		s.ckr, s.nr = p.ckr, p.nr
	}
	for i := range p.skipped {
		s.skipped.push(&p.skipped[i])
	}
}
