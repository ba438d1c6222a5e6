package ratchet

import (
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/sha256"
	"fmt"

	"github.com/hush-chat/hush/internal/wire"
)

// Post-quantum ratchet constants (SPEC §5.12).
const (
	// ChunkSize is the payload of one key or ciphertext chunk.
	ChunkSize = 64

	ekSize   = mlkem.EncapsulationKeySize768 // 1184
	ctSize   = mlkem.CiphertextSize768       // 1088
	seedSize = mlkem.SeedSize                // 64
	ssSize   = mlkem.SharedKeySize           // 32

	ekChunks = (ekSize + ChunkSize - 1) / ChunkSize // 19
	ctChunks = (ctSize + ChunkSize - 1) / ChunkSize // 17

	labelRootPQ = "hush/v2 ratchet root pq"
)

// pqPhase is where a party stands in the current epoch. In each epoch one
// party sends an encapsulation key (the EK side) and the other answers
// with a ciphertext (the CT side); the roles swap every epoch.
type pqPhase uint8

const (
	// EK side.
	pqNeedKey   pqPhase = 1 // the next Encrypt generates the key pair
	pqSendKey   pqPhase = 2 // sending key chunks; no ciphertext chunk seen
	pqCollectCT pqPhase = 3 // collecting ciphertext chunks
	pqMix       pqPhase = 4 // holds the secret; mixes it at the next sending step
	// CT side.
	pqCollectEK pqPhase = 5 // collecting key chunks
	pqSendCT    pqPhase = 6 // holds the secret; sending ciphertext chunks until mixed
)

func (p pqPhase) String() string {
	switch p {
	case pqNeedKey:
		return "need-key"
	case pqSendKey:
		return "send-key"
	case pqCollectCT:
		return "collect-ciphertext"
	case pqMix:
		return "mix"
	case pqCollectEK:
		return "collect-key"
	case pqSendCT:
		return "send-ciphertext"
	}
	return fmt.Sprintf("pqPhase(%d)", uint8(p))
}

// Sending status of the chunks of a pqSendKey or pqSendCT state.
const (
	pqSending = 0 // send the next chunk with every message
	pqPaused  = 1 // a whole cycle went out; send again after the next receive
	pqStopped = 2 // the peer acknowledged the whole ciphertext
)

// pqState is the post-quantum half of a v2 State. Which fields are
// meaningful depends on phase; the others are zero.
type pqState struct {
	epoch uint32
	phase pqPhase
	seed  [seedSize]byte // decapsulation key seed: pqSendKey, pqCollectCT
	buf   [ekSize]byte   // key (pqSendKey, pqCollectEK) or ciphertext (pqCollectCT, pqSendCT)
	have  uint32         // chunks received: pqCollectCT, pqCollectEK
	next  uint8          // next chunk to send: pqSendKey, pqSendCT
	pause uint8          // pqSending, pqPaused or pqStopped
	ss    [ssSize]byte   // shared secret: pqMix, pqSendCT
}

func chunkCount(kind uint8) int {
	if kind == ChunkKey {
		return ekChunks
	}
	return ctChunks
}

func objectSize(kind uint8) int {
	if kind == ChunkKey {
		return ekSize
	}
	return ctSize
}

// chunkLen is the payload length of chunk idx of a key or ciphertext: all
// are ChunkSize bytes except the key's last (32 bytes).
func chunkLen(kind, idx uint8) int {
	return min(ChunkSize, objectSize(kind)-int(idx)*ChunkSize)
}

func fullMask(kind uint8) uint32 { return 1<<chunkCount(kind) - 1 }

// pqs returns s's post-quantum ratchet, nil in a version 1 session.
func (s *State) pqs() *pqState {
	if !s.v2 {
		return nil
	}
	return &s.pq
}

func (q *pqState) clone() *pqState {
	if q == nil {
		return nil
	}
	c := *q
	return &c
}

func (q *pqState) wipe() {
	if q != nil {
		*q = pqState{}
	}
}

// enter moves q to phase p of epoch e with every field cleared.
func (q *pqState) enter(e uint32, p pqPhase) {
	*q = pqState{epoch: e, phase: p}
}

// kdfRootPQ is the root KDF of a step that mixes a post-quantum secret:
// HKDF(salt = rk, ikm = dhOut || ss, info = labelRootPQ, 64).
func kdfRootPQ(rk *[keySize]byte, dhOut []byte, ss *[ssSize]byte) (newRK, ck [keySize]byte) {
	ikm := make([]byte, 0, len(dhOut)+ssSize)
	ikm = append(append(ikm, dhOut...), ss[:]...)
	salt := saltOf(rk)
	out, err := hkdf.Key(sha256.New, ikm, salt, labelRootPQ, 2*keySize)
	clear(ikm)
	clear(salt)
	if err != nil {
		panic("ratchet: HKDF failed: " + err.Error())
	}
	copy(newRK[:], out[:keySize])
	copy(ck[:], out[keySize:])
	clear(out)
	return newRK, ck
}

// generate creates the epoch's key pair (pqNeedKey to pqSendKey).
func (q *pqState) generate() error {
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		return err
	}
	e := q.epoch
	q.enter(e, pqSendKey)
	copy(q.seed[:], dk.Bytes())
	copy(q.buf[:], dk.EncapsulationKey().Bytes())
	return nil
}

// outgoing returns the post-quantum field of the next message and advances
// the chunk cursor. The Chunk aliases q.buf: the caller copies it into the
// message before q changes again.
func (q *pqState) outgoing() PQField {
	var kind uint8
	switch q.phase {
	case pqMix:
		return PQField{Kind: ChunkAck, Epoch: q.epoch}
	case pqSendKey:
		kind = ChunkKey
	case pqSendCT:
		kind = ChunkCiphertext
	default:
		return PQField{}
	}
	if q.pause != pqSending {
		return PQField{}
	}
	i := q.next
	off := int(i) * ChunkSize
	f := PQField{Kind: kind, Index: i, Epoch: q.epoch, Chunk: q.buf[off : off+chunkLen(kind, i)]}
	q.next++
	if int(q.next) == chunkCount(kind) {
		// One whole cycle is out; repeat it only once the peer shows it is
		// still talking, so a one-sided burst does not pay for it again.
		q.next, q.pause = 0, pqPaused
	}
	return f
}

// errPQ is a post-quantum field that no honest peer sends. The message
// authenticated, so only the peer (or whoever holds its keys) made it.
var errPQ = fmt.Errorf("%w: post-quantum field out of order", ErrAuth)

// receive returns the state after an authenticated message with field f,
// or nil if nothing changes. It does not modify q. step tells whether the
// message performed a receiving DH step that mixed q's secret (the caller
// checked that q was in pqSendCT then).
func (q *pqState) receive(f *PQField, mixedStep bool) (*pqState, error) {
	var n *pqState
	mut := func() *pqState {
		if n == nil {
			n = q.clone()
		}
		return n
	}
	cur := q
	if mixedStep {
		e := q.epoch
		mut().enter(e+1, pqNeedKey)
		cur = n
	}
	if f.Kind != ChunkNone {
		// Only the current epoch's data counts; a late message from an
		// earlier epoch is authentic but stale. No honest peer is ahead.
		if f.Epoch > cur.epoch {
			return nil, errPQ
		}
		if f.Epoch == cur.epoch {
			if err := cur.absorb(f, mut); err != nil {
				return nil, err
			}
			if n != nil {
				cur = n
			}
		}
	}
	// A message from a peer that is still talking: if a whole cycle of
	// chunks went out, send it again (some chunk may have been lost).
	if cur.pause == pqPaused && (cur.phase == pqSendKey || cur.phase == pqSendCT) {
		mut().pause = pqSending
	}
	return n, nil
}

// absorb applies a chunk or ack of the current epoch. mut returns the copy
// to write to.
func (q *pqState) absorb(f *PQField, mut func() *pqState) error {
	switch {
	case f.Kind == ChunkAck && q.phase == pqSendCT:
		if q.pause != pqStopped {
			mut().pause = pqStopped
		}
	case f.Kind == ChunkCiphertext && (q.phase == pqSendKey || q.phase == pqCollectCT):
		n := mut()
		if n.phase == pqSendKey {
			// A ciphertext chunk proves the peer has the whole key.
			clear(n.buf[:])
			n.phase, n.next, n.pause = pqCollectCT, 0, 0
		}
		if n.store(f) {
			return n.decapsulate()
		}
	case f.Kind == ChunkKey && q.phase == pqCollectEK:
		n := mut()
		if n.store(f) {
			return n.encapsulate()
		}
	}
	// Anything else is a repeat the state no longer needs.
	return nil
}

// store copies a chunk into buf and reports whether the object is whole.
func (q *pqState) store(f *PQField) bool {
	off := int(f.Index) * ChunkSize
	copy(q.buf[off:], f.Chunk)
	q.have |= 1 << f.Index
	return q.have == fullMask(f.Kind)
}

// decapsulate turns a whole ciphertext into the epoch's secret (pqCollectCT
// to pqMix).
func (q *pqState) decapsulate() error {
	dk, err := mlkem.NewDecapsulationKey768(q.seed[:])
	if err != nil {
		return fmt.Errorf("%w: bad stored decapsulation key", ErrAuth)
	}
	ss, err := dk.Decapsulate(q.buf[:ctSize])
	if err != nil {
		return errPQ
	}
	e := q.epoch
	q.enter(e, pqMix)
	copy(q.ss[:], ss)
	clear(ss)
	return nil
}

// encapsulate answers a whole key (pqCollectEK to pqSendCT).
func (q *pqState) encapsulate() error {
	ek, err := mlkem.NewEncapsulationKey768(q.buf[:ekSize])
	if err != nil {
		// Only the peer can have sent a key that does not parse.
		return fmt.Errorf("%w: peer's post-quantum key is invalid", ErrAuth)
	}
	ss, ct := ek.Encapsulate()
	e := q.epoch
	q.enter(e, pqSendCT)
	copy(q.ss[:], ss)
	copy(q.buf[:], ct)
	clear(ss)
	return nil
}

// marshal appends the post-quantum block of a state encoding (SPEC §5.12).
func (q *pqState) marshal(w *wire.Writer) {
	w.U8(uint8(q.phase))
	w.U32(q.epoch)
	switch q.phase {
	case pqSendKey:
		w.Fixed(q.seed[:])
		w.Fixed(q.buf[:ekSize])
		w.U8(q.next)
		w.U8(q.pause)
	case pqCollectCT:
		w.Fixed(q.seed[:])
		w.U32(q.have)
		w.Fixed(q.buf[:ctSize])
	case pqMix:
		w.Fixed(q.ss[:])
	case pqCollectEK:
		w.U32(q.have)
		w.Fixed(q.buf[:ekSize])
	case pqSendCT:
		w.Fixed(q.ss[:])
		w.Fixed(q.buf[:ctSize])
		w.U8(q.next)
		w.U8(q.pause)
	}
}

// size is the length of q's block in a state encoding (marshal).
func (q *pqState) size() int {
	n := 1 + 4
	switch q.phase {
	case pqSendKey:
		n += seedSize + ekSize + 2
	case pqCollectCT:
		n += seedSize + 4 + ctSize
	case pqMix:
		n += ssSize
	case pqCollectEK:
		n += 4 + ekSize
	case pqSendCT:
		n += ssSize + ctSize + 2
	}
	return n
}

// parsePQ reads the post-quantum block into q (zero), refusing any state no session
// reaches, so that every accepted encoding re-encodes to itself.
func parsePQ(r *wire.Reader, q *pqState) {
	q.phase = pqPhase(r.U8("pq.phase"))
	q.epoch = r.U32("pq.epoch")
	if r.Err() != nil {
		return
	}
	if q.epoch == 0 {
		fail(r, "pq.epoch", wire.ErrMalformed, "epoch 0")
	}
	switch q.phase {
	case pqNeedKey:
	case pqSendKey:
		copy(q.seed[:], r.Fixed("pq.seed", seedSize))
		copy(q.buf[:], r.Fixed("pq.key", ekSize))
		parseCursor(r, q, ekChunks, pqPaused)
	case pqCollectCT:
		copy(q.seed[:], r.Fixed("pq.seed", seedSize))
		// At least one ciphertext chunk moved the state here, and a whole
		// ciphertext would have moved it on.
		parseHave(r, q, ChunkCiphertext, false)
	case pqMix:
		copy(q.ss[:], r.Fixed("pq.secret", ssSize))
	case pqCollectEK:
		parseHave(r, q, ChunkKey, true)
	case pqSendCT:
		copy(q.ss[:], r.Fixed("pq.secret", ssSize))
		copy(q.buf[:], r.Fixed("pq.ciphertext", ctSize))
		parseCursor(r, q, ctChunks, pqStopped)
	default:
		fail(r, "pq.phase", wire.ErrMalformed, "unknown phase")
	}
}

func parseCursor(r *wire.Reader, q *pqState, chunks int, maxPause uint8) {
	q.next, q.pause = r.U8("pq.next"), r.U8("pq.pause")
	if r.Err() == nil && (int(q.next) >= chunks || q.pause > maxPause) {
		fail(r, "pq.next", wire.ErrMalformed, "chunk cursor out of range")
	}
}

// parseHave reads a reassembly buffer. Missing chunks must be zero: the
// encoding of a state is unique.
func parseHave(r *wire.Reader, q *pqState, kind uint8, mayBeEmpty bool) {
	q.have = r.U32("pq.have")
	copy(q.buf[:], r.Fixed("pq.buffer", objectSize(kind)))
	if r.Err() != nil {
		return
	}
	full := fullMask(kind)
	if q.have&^full != 0 || q.have == full || (q.have == 0 && !mayBeEmpty) {
		fail(r, "pq.have", wire.ErrMalformed, "impossible set of chunks")
		return
	}
	for i := range uint8(chunkCount(kind)) {
		if q.have&(1<<i) != 0 {
			continue
		}
		off := int(i) * ChunkSize
		for _, b := range q.buf[off : off+chunkLen(kind, i)] {
			if b != 0 {
				fail(r, "pq.buffer", wire.ErrMalformed, "data in a missing chunk")
				return
			}
		}
	}
}
