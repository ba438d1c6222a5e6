package tagged

import (
	"crypto/rand"
	"encoding/binary"
	"sync"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/wire"
)

// Receiver is one device's receiving side from one peer device: the batches
// it offered that peer, at most MaxEpochs, oldest first. The zero value
// holds none. Methods never modify their receiver.
type Receiver struct {
	// batches are never modified once made: a new state shares the ones it
	// does not change (copy on write).
	batches []*batch
}

// batch is one offered epoch. A position whose envelope opened keeps its
// tag (a tombstone, to tell a replay from an unknown envelope) and loses
// its key.
type batch struct {
	epoch   uint32
	seed    *[seedLen]byte // kept while no position has opened: the offer may be re-sent
	entries [Window]entry
}

type entry struct {
	tag    Tag
	opened bool
	key    [keyLen]byte // zero once opened
}

func (b *batch) opened() int {
	n := 0
	for i := range b.entries {
		if b.entries[i].opened {
			n++
		}
	}
	return n
}

// newBatch derives the tags and keys of a batch from its seed (§14.3).
func newBatch(epoch uint32, seed *[seedLen]byte) *batch {
	b := &batch{epoch: epoch, seed: new([seedLen]byte)}
	*b.seed = *seed
	ck := firstChainKey(epoch, seed)
	for i := range b.entries {
		next, tag, key := step(&ck)
		b.entries[i] = entry{tag: tag, key: key}
		ck = next
	}
	clear(ck[:])
	return b
}

// Delta is how an Offer changes the set of tags a Receiver holds, for
// keeping a Table in step. Open never changes the set.
type Delta struct {
	Added, Removed []Tag
}

// NeedsOffer reports whether the peer should get a new batch: none was
// offered yet, or the newest has opened RefillMark positions. A pending
// offer (the newest batch opened nothing yet) does not count: PendingOffer
// returns it for re-sending.
func (r *Receiver) NeedsOffer() bool {
	if len(r.batches) == 0 {
		return true
	}
	return r.batches[len(r.batches)-1].opened() >= RefillMark
}

// PendingOffer returns the newest batch's offer if no envelope opened under
// it yet (the peer may not have it), else nil.
func (r *Receiver) PendingOffer() *Offer {
	if len(r.batches) == 0 {
		return nil
	}
	b := r.batches[len(r.batches)-1]
	if b.seed == nil {
		return nil
	}
	return &Offer{Epoch: b.epoch, Seed: *b.seed}
}

// Offer returns the receiver state with a batch to offer the peer, the
// offer, and the change in tags. While the newest batch has opened nothing
// it returns that batch's offer again and an unchanged state; otherwise it
// draws a fresh seed from crypto/rand and drops the oldest batch beyond
// MaxEpochs. The caller stores the new state, updates its Table, and sends
// the offer to the peer as ratchet plaintext (app message kind 0x08).
func (r *Receiver) Offer() (*Receiver, *Offer, Delta, error) {
	if o := r.PendingOffer(); o != nil {
		return &Receiver{batches: append([]*batch(nil), r.batches...)}, o, Delta{}, nil
	}
	var seed [seedLen]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, nil, Delta{}, err
	}
	defer clear(seed[:])
	epoch := uint32(1)
	if len(r.batches) > 0 {
		epoch = r.batches[len(r.batches)-1].epoch + 1
		if epoch == 0 {
			return nil, nil, Delta{}, errorf(ErrInvalid, "epochs used up")
		}
	}
	return r.withBatch(newBatch(epoch, &seed))
}

// withBatch appends b, dropping the oldest batch beyond MaxEpochs.
func (r *Receiver) withBatch(b *batch) (*Receiver, *Offer, Delta, error) {
	var d Delta
	keep := r.batches
	if len(keep) == MaxEpochs {
		for _, e := range keep[0].entries {
			d.Removed = append(d.Removed, e.tag)
		}
		keep = keep[1:]
	}
	n := &Receiver{batches: make([]*batch, 0, len(keep)+1)}
	n.batches = append(append(n.batches, keep...), b)
	for _, e := range b.entries {
		d.Added = append(d.Added, e.tag)
	}
	return n, &Offer{Epoch: b.epoch, Seed: *b.seed}, d, nil
}

// clone copies b without its seed (the copy is made to be used).
func (b *batch) cloneUsed() *batch {
	c := *b
	c.seed = nil
	return &c
}

// Tags returns every tag r holds, tombstones included: what a Table must
// map to r's session.
func (r *Receiver) Tags() []Tag {
	out := make([]Tag, 0, len(r.batches)*Window)
	for i := range r.batches {
		for _, e := range r.batches[i].entries {
			out = append(out, e.tag)
		}
	}
	return out
}

// find returns the batch and position holding t, or -1, -1.
func (r *Receiver) find(t *Tag) (int, int) {
	for bi := range r.batches {
		for pi := range r.batches[bi].entries {
			if r.batches[bi].entries[pi].tag == *t { // tags are public: no need for constant time
				return bi, pi
			}
		}
	}
	return -1, -1
}

// Opened is what Open returns besides the new state.
type Opened struct {
	Content  *envelope.Content
	Epoch    uint32 // batch the envelope was sealed in
	Position int    // its position in the batch
}

// Open opens a tagged envelope addressed to self (§14.5). On success it
// returns the new receiver state, in which the envelope's position is a
// tombstone; the caller stores it with the message. On any failure r is
// unchanged and nothing is returned but the error: ErrUnknownTag,
// ErrReplay, ErrAuth, ErrWrongRecipient or a *wire.Error.
func (r *Receiver) Open(self envelope.Address, env []byte) (*Receiver, *Opened, error) {
	bi, pi, op, err := r.open(self, env)
	if err != nil {
		return nil, nil, err
	}
	// Commit on a copy of the batch: the position becomes a tombstone;
	// the first open of a batch deletes its seed (the old state, which the
	// caller discards, still holds it: callers wipe states they drop).
	n := &Receiver{batches: append([]*batch(nil), r.batches...)}
	nb := r.batches[bi].cloneUsed()
	n.batches[bi] = nb
	ne := &nb.entries[pi]
	ne.opened = true
	clear(ne.key[:])
	return n, op, nil
}

// open finds and opens env under r: the batch and position it used and
// what it held. It changes nothing.
func (r *Receiver) open(self envelope.Address, env []byte) (int, int, *Opened, error) {
	tag, err := ParseTag(env)
	if err != nil {
		return 0, 0, nil, err
	}
	bi, pi := r.find(&tag)
	if bi < 0 {
		return 0, 0, nil, ErrUnknownTag
	}
	e := &r.batches[bi].entries[pi]
	if e.opened {
		return 0, 0, nil, ErrReplay
	}
	ct := env[1+TagLen:]
	pt, err := aead(&e.key).Open(make([]byte, 0, len(ct)-gcmTagLen), zeroNonce[:], ct, env[:1+TagLen])
	if err != nil {
		return 0, 0, nil, ErrAuth
	}
	defer clear(pt)
	c, err := envelope.ParseContent(pt)
	if err != nil {
		return 0, 0, nil, err
	}
	if c.Recipient != self {
		return 0, 0, nil, ErrWrongRecipient
	}
	return bi, pi, &Opened{Content: c, Epoch: r.batches[bi].epoch, Position: pi}, nil
}

// OpenEncoded is Open on an encoded receiver state (empty for the zero
// Receiver), for a caller that stores states encoded: it returns the
// encoding of the new state and whether that state NeedsOffer. It costs
// less than decoding, Open and MarshalBinary, since the decoded state is
// its own and changes in place. state itself is never changed; on any
// failure nothing but the error is returned.
func OpenEncoded(state []byte, self envelope.Address, env []byte) ([]byte, *Opened, bool, error) {
	sc := scratchPool.Get().(*scratch)
	defer func() {
		*sc = scratch{} // keys, seeds and tags
		scratchPool.Put(sc)
	}()
	var r Receiver
	if len(state) > 0 {
		if err := r.unmarshal(state, sc); err != nil {
			return nil, nil, false, err
		}
	}
	bi, pi, op, err := r.open(self, env)
	if err != nil {
		return nil, nil, false, err
	}
	b := r.batches[bi]
	if b.seed != nil {
		clear(b.seed[:])
		b.seed = nil
	}
	e := &b.entries[pi]
	e.opened = true
	clear(e.key[:])
	next, err := r.MarshalBinary()
	if err != nil {
		return nil, nil, false, err
	}
	return next, op, r.NeedsOffer(), nil
}

// MarshalBinary encodes r (§14.7). The encoding is secret.
func (r *Receiver) MarshalBinary() ([]byte, error) {
	n := 2
	for _, b := range r.batches {
		n += 5
		if b.seed != nil {
			n += seedLen
		}
		for i := range b.entries {
			n += TagLen + 1
			if !b.entries[i].opened {
				n += keyLen
			}
		}
	}
	// Written into a buffer of the exact size: a state is encoded per
	// message, and appends field by field cost more than the copying.
	out := make([]byte, n)
	out[0], out[1] = stateVersion, uint8(len(r.batches))
	o := 2
	for _, b := range r.batches {
		binary.BigEndian.PutUint32(out[o:], b.epoch)
		o += 4
		if b.seed != nil {
			out[o] = 1
			o += 1 + copy(out[o+1:], b.seed[:])
		} else {
			o++ // 0
		}
		for i := range b.entries {
			e := &b.entries[i]
			o += copy(out[o:], e.tag[:])
			if e.opened {
				out[o] = 1
				o++
			} else {
				o++ // 0
				o += copy(out[o:], e.key[:])
			}
		}
	}
	return out, nil
}

// UnmarshalBinary decodes a receiver state strictly into r.
func (r *Receiver) UnmarshalBinary(data []byte) error {
	return r.unmarshal(data, nil)
}

// scratch is the memory of a decoded Receiver that does not outlive the
// call decoding it (OpenEncoded): reused through scratchPool, wiped
// before it goes back.
type scratch struct {
	ptrs    [MaxEpochs]*batch
	batches [MaxEpochs]batch
	seeds   [MaxEpochs][seedLen]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// unmarshal is UnmarshalBinary, decoding into sc when it is not nil (r
// then points into sc), else into fresh memory.
func (r *Receiver) unmarshal(data []byte, sc *scratch) error {
	rd := wire.NewReader("tagged receiver", data)
	rd.Version(stateVersion)
	nb := int(rd.U8("batches"))
	if rd.Err() == nil && nb > MaxEpochs { // before allocating
		rd.Fail("batches", wire.ErrTooLarge, "more than 2")
	}
	var n Receiver
	var block []batch
	switch {
	case rd.Err() != nil:
	case sc != nil:
		n.batches, block = sc.ptrs[:nb], sc.batches[:nb]
	default:
		// One allocation for all batches: a state is decoded per message.
		n.batches, block = make([]*batch, nb), make([]batch, nb)
	}
	for i := 0; i < len(n.batches) && rd.Err() == nil; i++ {
		b := &block[i]
		n.batches[i] = b
		b.epoch = rd.U32("epoch")
		if rd.Err() == nil && b.epoch == 0 {
			rd.Fail("epoch", wire.ErrMalformed, "epoch 0")
		}
		if rd.Err() == nil && i > 0 && b.epoch != n.batches[i-1].epoch+1 {
			rd.Fail("epoch", wire.ErrMalformed, "batches not consecutive")
		}
		switch has := rd.U8("has seed"); {
		case rd.Err() != nil:
		case has > 1:
			rd.Fail("has seed", wire.ErrMalformed, "not 0 or 1")
		case has == 1 && sc != nil:
			b.seed = &sc.seeds[i]
			copy(b.seed[:], rd.Fixed("seed", seedLen))
		case has == 1:
			b.seed = new([seedLen]byte)
			copy(b.seed[:], rd.Fixed("seed", seedLen))
		}
		for j := 0; j < Window && rd.Err() == nil; j++ {
			e := &b.entries[j]
			copy(e.tag[:], rd.Fixed("tag", TagLen))
			switch op := rd.U8("opened"); {
			case rd.Err() != nil:
			case op > 1:
				rd.Fail("opened", wire.ErrMalformed, "not 0 or 1")
			case op == 1:
				e.opened = true
			default:
				copy(e.key[:], rd.Fixed("key", keyLen))
			}
		}
		if rd.Err() != nil {
			break
		}
		// A seed exists exactly while nothing opened (it is deleted at the
		// first open), and only the newest batch may be unused (a new batch
		// is made only once the newest was used).
		used := b.opened() > 0
		switch {
		case used && b.seed != nil:
			rd.Fail("seed", wire.ErrMalformed, "seed kept after use")
		case !used && b.seed == nil:
			rd.Fail("seed", wire.ErrMalformed, "unused batch without its seed")
		case !used && i < nb-1:
			rd.Fail("batches", wire.ErrMalformed, "older batch never used")
		}
	}
	if err := rd.Done(); err != nil {
		return err
	}
	*r = n
	return nil
}
