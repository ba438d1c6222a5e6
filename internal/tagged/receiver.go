package tagged

import (
	"crypto/rand"
	"encoding/binary"
	"sync"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/wire"
)

// Receiver is one device's receiving side from one peer device: the epochs
// it offered that peer, at most MaxEpochs, oldest first: batches (offered by
// the first release) and then continuable epochs. The zero value holds
// none. Methods never modify their receiver.
type Receiver struct {
	// batches and chains are never modified once made: a new state
	// shares the ones it does not change (copy on write).
	batches []*batch
	chains  []*chain
}

// epochs returns how many epochs r holds.
func (r *Receiver) epochs() int { return len(r.batches) + len(r.chains) }

// newest returns the newest epoch's number, 0 if none.
func (r *Receiver) newest() uint32 {
	switch {
	case len(r.chains) > 0:
		return r.chains[len(r.chains)-1].epoch
	case len(r.batches) > 0:
		return r.batches[len(r.batches)-1].epoch
	}
	return 0
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

// Delta is how an Offer or an Open changes what a Table holds for a
// Receiver: tags added and removed, and the continuable epochs that are new
// (Marks) or no longer held (Dropped). Apply the deltas of one session in
// the order they were made.
type Delta struct {
	Added, Removed []Tag
	Marks, Dropped []Mark
}

// Mark names a continuable epoch and holds its tag key, which a Table
// keeps to find a tag beyond the window it holds. The tag key is secret.
type Mark struct {
	Epoch uint32
	tk    [32]byte
}

// NeedsOffer reports whether the peer should get a new epoch: none was
// offered yet, or the newest has opened RefillMark positions. A pending
// offer (the newest epoch opened nothing yet) does not count: PendingOffer
// returns it for re-sending.
func (r *Receiver) NeedsOffer() bool {
	switch {
	case len(r.chains) > 0:
		return r.chains[len(r.chains)-1].count >= RefillMark
	case len(r.batches) > 0:
		return r.batches[len(r.batches)-1].opened() >= RefillMark
	}
	return true
}

// PendingOffer returns the newest epoch's offer if no envelope opened under
// it yet (the peer may not have it), else nil.
func (r *Receiver) PendingOffer() *Offer {
	switch {
	case len(r.chains) > 0:
		if c := r.chains[len(r.chains)-1]; c.seed != nil {
			return &Offer{Version: OfferContinuable, Epoch: c.epoch, Seed: *c.seed}
		}
	case len(r.batches) > 0:
		if b := r.batches[len(r.batches)-1]; b.seed != nil {
			return &Offer{Version: OfferBatch, Epoch: b.epoch, Seed: *b.seed}
		}
	}
	return nil
}

// Offer returns the receiver state with an epoch to offer the peer, the
// offer, and the change for a Table. While the newest epoch has opened
// nothing it returns that epoch's offer again and an unchanged state;
// otherwise it draws a fresh seed from crypto/rand for a continuable epoch
// and drops the oldest epoch beyond MaxEpochs. The caller stores the new
// state, updates its Table, and sends the offer to the peer as ratchet
// plaintext (app message kind 0x08).
func (r *Receiver) Offer() (*Receiver, *Offer, Delta, error) {
	if o := r.PendingOffer(); o != nil {
		return r.clone(), o, Delta{}, nil
	}
	var seed [seedLen]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, nil, Delta{}, err
	}
	defer clear(seed[:])
	epoch := r.newest() + 1
	if epoch == 0 {
		return nil, nil, Delta{}, errorf(ErrInvalid, "epochs used up")
	}
	c := newChain(epoch, &seed)
	n, d := r.clone(), Delta{Marks: []Mark{c.mark()}}
	if n.epochs() == MaxEpochs {
		if len(n.batches) > 0 {
			for _, e := range n.batches[0].entries {
				d.Removed = append(d.Removed, e.tag)
			}
			n.batches = n.batches[1:]
		} else {
			old := n.chains[0]
			lo, up := window(old.hi)
			d.Removed = old.appendTags(d.Removed, lo, up)
			d.Dropped = append(d.Dropped, old.mark())
			n.chains = n.chains[1:]
		}
	}
	n.chains = append(n.chains, c)
	lo, up := window(0)
	d.Added = c.appendTags(nil, lo, up)
	return n, &Offer{Version: OfferContinuable, Epoch: epoch, Seed: seed}, d, nil
}

// clone copies r's lists (not the epochs they point to).
func (r *Receiver) clone() *Receiver {
	return &Receiver{batches: append([]*batch(nil), r.batches...), chains: append([]*chain(nil), r.chains...)}
}

// withBatch appends a batch, dropping the oldest beyond MaxEpochs: what the
// first release's Offer did. Tests use it to make legacy states.
func (r *Receiver) withBatch(b *batch) (*Receiver, *Offer, Delta, error) {
	if len(r.chains) > 0 {
		return nil, nil, Delta{}, errorf(ErrInvalid, "a batch after a continuable epoch")
	}
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
	return n, &Offer{Version: OfferBatch, Epoch: b.epoch, Seed: *b.seed}, d, nil
}

// clone copies b without its seed (the copy is made to be used).
func (b *batch) cloneUsed() *batch {
	c := *b
	c.seed = nil
	return &c
}

// Tags returns every tag r holds for a Table, tombstones included: every
// batch's, and each continuable epoch's window.
func (r *Receiver) Tags() []Tag {
	out := make([]Tag, 0, r.epochs()*2*Window)
	for i := range r.batches {
		for _, e := range r.batches[i].entries {
			out = append(out, e.tag)
		}
	}
	for _, c := range r.chains {
		lo, up := window(c.hi)
		out = c.appendTags(out, lo, up)
	}
	return out
}

// Held returns what a Table must hold for r: the Delta that takes an empty
// table to r's.
func (r *Receiver) Held() Delta {
	d := Delta{Added: r.Tags()}
	for _, c := range r.chains {
		d.Marks = append(d.Marks, c.mark())
	}
	return d
}

// Holds reports whether g is a tag of an epoch r holds (a batch's, or any
// position of a continuable epoch), whether or not it would open.
func (r *Receiver) Holds(g Tag) bool {
	if bi, _ := r.find(&g); bi >= 0 {
		return true
	}
	for _, c := range r.chains {
		if _, ok := positionOf(c.blk, &g); ok {
			return true
		}
	}
	return false
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
	Epoch    uint32 // epoch the envelope was sealed in
	Position int    // its position in the epoch
	// Delta is the change for a Table, to apply once the new state is
	// stored: empty for a batch, and for a continuable epoch unless the
	// envelope moved its high-water mark.
	Delta Delta
}

// plan is what an Open will commit: a batch position (bi >= 0), or a
// continuable one (ci >= 0).
type plan struct {
	bi, pi, ci int
	cop        *chainOpen
	op         *Opened
}

// Open opens a tagged envelope addressed to self (§14.5). On success it
// returns the new receiver state, in which the envelope's position has
// opened; the caller stores it with the message, then applies the
// Opened's Delta to its Table. On any failure r is unchanged and nothing is
// returned but the error: ErrUnknownTag, ErrReplay, ErrTooOld,
// ErrTooFarAhead, ErrAuth, ErrWrongRecipient or a *wire.Error.
func (r *Receiver) Open(self envelope.Address, env []byte) (*Receiver, *Opened, error) {
	pl, err := r.open(self, env)
	if err != nil {
		return nil, nil, err
	}
	// Commit on a copy of the epoch; the first open of an epoch deletes
	// its seed (the old state, which the caller discards, still holds it:
	// callers wipe states they drop).
	n := r.clone()
	if pl.bi >= 0 {
		nb := r.batches[pl.bi].cloneUsed()
		n.batches[pl.bi] = nb
		ne := &nb.entries[pl.pi]
		ne.opened = true
		clear(ne.key[:])
	} else {
		c := r.chains[pl.ci]
		n.chains[pl.ci] = c.commit(pl.cop)
		pl.op.Delta = c.delta(n.chains[pl.ci])
		pl.cop.wipe()
	}
	return n, pl.op, nil
}

// open finds and opens env under r and returns what to commit. It changes
// nothing.
func (r *Receiver) open(self envelope.Address, env []byte) (*plan, error) {
	tag, err := ParseTag(env)
	if err != nil {
		return nil, err
	}
	pl := &plan{bi: -1, ci: -1}
	var key *[keyLen]byte
	var epoch uint32
	if bi, pi := r.find(&tag); bi >= 0 {
		e := &r.batches[bi].entries[pi]
		if e.opened {
			return nil, ErrReplay
		}
		pl.bi, pl.pi, key, epoch = bi, pi, &e.key, r.batches[bi].epoch
	} else {
		for ci, c := range r.chains {
			p, ok := positionOf(c.blk, &tag)
			if !ok {
				continue
			}
			cop, err := c.prepare(p)
			if err != nil {
				return nil, err
			}
			pl.ci, pl.pi, pl.cop, key, epoch = ci, int(p), cop, &cop.key, c.epoch
			break
		}
	}
	if key == nil {
		return nil, ErrUnknownTag
	}
	fail := func(err error) (*plan, error) {
		if pl.cop != nil {
			pl.cop.wipe()
		}
		return nil, err
	}
	ct := env[1+TagLen:]
	pt, err := aead(key).Open(make([]byte, 0, len(ct)-gcmTagLen), zeroNonce[:], ct, env[:1+TagLen])
	if err != nil {
		return fail(ErrAuth)
	}
	defer clear(pt)
	c, err := envelope.ParseContent(pt)
	if err != nil {
		return fail(err)
	}
	if c.Recipient != self {
		return fail(ErrWrongRecipient)
	}
	pl.op = &Opened{Content: c, Epoch: epoch, Position: pl.pi}
	return pl, nil
}

// OpenEncoded is Open on an encoded receiver state (empty for the zero
// Receiver), for a caller that stores states encoded: it returns the
// encoding of the new state and whether that state NeedsOffer. It costs
// less than decoding, Open and MarshalBinary, since the decoded state is
// its own and changes in place. state itself is never changed; on any
// failure nothing but the error is returned.
func OpenEncoded(state []byte, self envelope.Address, env []byte) ([]byte, *Opened, bool, error) {
	sc := scratchPool.Get().(*scratch)
	var r Receiver
	defer func() {
		for _, c := range r.chains {
			c.wipe()
		}
		*sc = scratch{} // keys, seeds and tags
		scratchPool.Put(sc)
	}()
	if len(state) > 0 {
		if err := r.unmarshal(state, sc); err != nil {
			return nil, nil, false, err
		}
	}
	pl, err := r.open(self, env)
	if err != nil {
		return nil, nil, false, err
	}
	if pl.bi >= 0 {
		b := r.batches[pl.bi]
		if b.seed != nil {
			clear(b.seed[:])
			b.seed = nil
		}
		e := &b.entries[pl.pi]
		e.opened = true
		clear(e.key[:])
	} else {
		c := r.chains[pl.ci]
		n := c.commit(pl.cop)
		pl.op.Delta = c.delta(n)
		pl.cop.wipe()
		c.wipe()
		r.chains[pl.ci] = n
	}
	next, err := r.MarshalBinary()
	if err != nil {
		return nil, nil, false, err
	}
	return next, pl.op, r.NeedsOffer(), nil
}

// MarshalBinary encodes r (§14.7): version 0x01 while it holds no
// continuable epoch, else 0x02. The encoding is secret.
func (r *Receiver) MarshalBinary() ([]byte, error) {
	n := 2
	for _, b := range r.batches {
		n += b.encodedLen()
	}
	if len(r.chains) > 0 {
		n++
		for _, c := range r.chains {
			n += c.encodedLen()
		}
	}
	// Written into a buffer of the exact size: a state is encoded per
	// message, and appends field by field cost more than the copying.
	out := make([]byte, n)
	out[0], out[1] = stateVersion, uint8(len(r.batches))
	if len(r.chains) > 0 {
		out[0] = stateVersion2
	}
	o := 2
	for _, b := range r.batches {
		o = b.encode(out, o)
	}
	if len(r.chains) > 0 {
		w := wire.NewWriter(out[o:o])
		w.U8(uint8(len(r.chains)))
		for _, c := range r.chains {
			c.encode(w)
		}
	}
	return out, nil
}

func (b *batch) encodedLen() int {
	n := 5
	if b.seed != nil {
		n += seedLen
	}
	for i := range b.entries {
		n += TagLen + 1
		if !b.entries[i].opened {
			n += keyLen
		}
	}
	return n
}

// encode writes b into out at o and returns the offset after it.
func (b *batch) encode(out []byte, o int) int {
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
	return o
}

// UnmarshalBinary decodes a receiver state strictly into r.
func (r *Receiver) UnmarshalBinary(data []byte) error {
	return r.unmarshal(data, nil)
}

// scratch is the memory of a decoded Receiver's batches that does not
// outlive the call decoding it (OpenEncoded): reused through scratchPool,
// wiped before it goes back.
type scratch struct {
	ptrs    [MaxEpochs]*batch
	batches [MaxEpochs]batch
	seeds   [MaxEpochs][seedLen]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// unmarshal is UnmarshalBinary, decoding batches into sc when it is not
// nil (r then points into sc), else into fresh memory.
func (r *Receiver) unmarshal(data []byte, sc *scratch) error {
	rd := wire.NewReader("tagged receiver", data)
	v := rd.U8("version")
	if rd.Err() == nil && v != stateVersion && v != stateVersion2 {
		rd.Fail("version", wire.ErrVersion, "unknown")
	}
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
	var prev uint32 // the previous epoch's number
	for i := 0; i < len(n.batches) && rd.Err() == nil; i++ {
		b := &block[i]
		n.batches[i] = b
		var seed *[seedLen]byte
		if sc != nil {
			seed = &sc.seeds[i]
		}
		decodeBatch(rd, b, seed)
		if rd.Err() != nil {
			break
		}
		// A seed exists exactly while nothing opened (it is deleted at the
		// first open), and only the newest epoch may be unused (a new
		// epoch is made only once the newest was used).
		used := b.opened() > 0
		switch {
		case i > 0 && b.epoch != prev+1:
			rd.Fail("epoch", wire.ErrMalformed, "epochs not consecutive")
		case used && b.seed != nil:
			rd.Fail("seed", wire.ErrMalformed, "seed kept after use")
		case !used && b.seed == nil:
			rd.Fail("seed", wire.ErrMalformed, "unused batch without its seed")
		case !used && (i < nb-1 || v == stateVersion2):
			rd.Fail("batches", wire.ErrMalformed, "older epoch never used")
		}
		prev = b.epoch
	}
	if v == stateVersion2 && rd.Err() == nil {
		nc := int(rd.U8("continuable epochs"))
		switch {
		case rd.Err() != nil:
		case nc == 0:
			rd.Fail("continuable epochs", wire.ErrMalformed, "none: the state is version 1")
		case nb+nc > MaxEpochs: // before allocating
			rd.Fail("continuable epochs", wire.ErrTooLarge, "more than 2 epochs")
		default:
			n.chains = make([]*chain, 0, nc)
		}
		for i := 0; i < nc && rd.Err() == nil; i++ {
			c := decodeChain(rd)
			if c == nil {
				break
			}
			switch {
			case (nb > 0 || i > 0) && c.epoch != prev+1:
				rd.Fail("epoch", wire.ErrMalformed, "epochs not consecutive")
			case c.hi == 0 && i < nc-1:
				rd.Fail("continuable epochs", wire.ErrMalformed, "older epoch never used")
			}
			n.chains = append(n.chains, c)
			prev = c.epoch
		}
	}
	if err := rd.Done(); err != nil {
		for _, c := range n.chains {
			c.wipe()
		}
		return err
	}
	*r = n
	return nil
}

// decodeBatch reads a batch into b, its seed into seed if not nil.
func decodeBatch(rd *wire.Reader, b *batch, seed *[seedLen]byte) {
	b.epoch = rd.U32("epoch")
	if rd.Err() == nil && b.epoch == 0 {
		rd.Fail("epoch", wire.ErrMalformed, "epoch 0")
	}
	switch has := rd.U8("has seed"); {
	case rd.Err() != nil:
	case has > 1:
		rd.Fail("has seed", wire.ErrMalformed, "not 0 or 1")
	case has == 1:
		if seed == nil {
			seed = new([seedLen]byte)
		}
		b.seed = seed
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
}
