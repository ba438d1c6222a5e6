package tagged

import (
	"crypto/cipher"
	"crypto/subtle"
	"math/bits"

	"github.com/hush-chat/hush/internal/wire"
)

// chain is a continuable epoch as its receiver holds it (§14.5): the tag
// key, the high-water mark hi (the next position whose key is not derived
// yet), ck_hi, which positions of [hi-Window, hi) have no key any more, and
// the keys of the others. A chain is never modified once made: opening
// makes a new one (copy on write).
type chain struct {
	epoch uint32
	seed  *[seedLen]byte // kept while nothing opened: the offer may be re-sent
	tk    [32]byte
	blk   cipher.Block // AES under tk, made with the chain and shared by its copies
	hi    uint32
	ck    [32]byte // ck_hi
	count uint8    // positions opened, capped at RefillMark
	gone  uint64   // bit k: position hi-1-k opened, or below 0
	// old continues gone below the window, keys long gone: bit k of the
	// 960-bit map (word k/64, bit k%64) says position hi-65-k opened, or
	// is below 0. A copy of an envelope up to ReplayMemory positions old
	// is told from one that never opened (a relay re-sending a page).
	old     [oldWords]uint64
	skipped []skippedKey
}

// oldWords is the size of chain.old: with gone, ReplayMemory positions.
const oldWords = ReplayMemory/64 - 1

// shifted returns gone:old moved up by s positions (s >= 1): the bits of
// the s newest positions are clear (not opened), the oldest fall off.
func (c *chain) shifted(s uint32) (gone uint64, old [oldWords]uint64) {
	var a, r [oldWords + 1]uint64
	a[0] = c.gone
	copy(a[1:], c.old[:])
	words, b := int(s/64), s%64
	if s >= ReplayMemory {
		return 0, old
	}
	for i := len(a) - 1; i >= words; i-- {
		v := a[i-words] << b
		if b > 0 && i-words-1 >= 0 {
			v |= a[i-words-1] >> (64 - b)
		}
		r[i] = v
	}
	copy(old[:], r[1:])
	return r[0], old
}

// openedLongAgo reports whether position p, more than Window below hi and
// less than ReplayMemory, opened (or is below 0).
func (c *chain) openedLongAgo(p uint32) bool {
	k := c.hi - 1 - p - 64
	return c.old[k/64]&(1<<(k%64)) != 0
}

// skippedKey is the key of a position below hi that has not opened.
// skipped lists exactly the positions of [hi-Window, hi) whose gone bit is
// clear, lowest first.
type skippedKey struct {
	pos uint32
	key [keyLen]byte
}

// newChain derives a continuable epoch from its seed.
func newChain(epoch uint32, seed *[seedLen]byte) *chain {
	c := &chain{epoch: epoch, seed: new([seedLen]byte), gone: ^uint64(0)}
	for i := range c.old {
		c.old[i] = ^uint64(0)
	}
	*c.seed = *seed
	c.tk, c.ck = epochKeys(epoch, seed)
	c.blk = tagCipher(&c.tk)
	return c
}

// window returns the positions [lo, up) whose tags a Table holds for a
// chain at hi: Window below it (tombstones and skipped keys) and Window
// above it (what comes next, in order or mildly out of order).
func window(hi uint32) (lo, up uint32) {
	if hi > Window {
		lo = hi - Window
	}
	return lo, min(hi+Window, MaxPosition)
}

// appendTags appends the tags of positions [lo, up).
func (c *chain) appendTags(dst []Tag, lo, up uint32) []Tag {
	for i := lo; i < up; i++ {
		dst = append(dst, tagAt(c.blk, i))
	}
	return dst
}

func (c *chain) mark() Mark { return Mark{Epoch: c.epoch, tk: c.tk} }

// chainOpen is what opening one position of a chain commits.
type chainOpen struct {
	p     uint32
	key   [keyLen]byte // key_p
	ck    [32]byte     // p >= hi: ck_{p+1}
	fresh []skippedKey // p >= hi: keys of hi..p-1 that stay in the window
}

func (o *chainOpen) wipe() {
	clear(o.key[:])
	clear(o.ck[:])
	for i := range o.fresh {
		clear(o.fresh[i].key[:])
	}
}

// prepare finds the key of position p, deriving the chain forward into a
// copy if p is at or above hi. It changes nothing.
func (c *chain) prepare(p uint32) (*chainOpen, error) {
	hi := c.hi
	switch {
	case p < hi && hi-p > Window && hi-p <= ReplayMemory && c.openedLongAgo(p):
		return nil, errorf(ErrReplay, "opened %d positions ago", hi-p)
	case p < hi && hi-p > Window:
		return nil, errorf(ErrTooOld, "epoch %d", c.epoch)
	case p < hi:
		if c.gone&(1<<(hi-1-p)) != 0 {
			return nil, ErrReplay
		}
		for i := range c.skipped {
			if c.skipped[i].pos == p {
				return &chainOpen{p: p, key: c.skipped[i].key}, nil
			}
		}
		return nil, errorf(ErrReplay, "no key") // unreachable: decoding checks the invariant
	case p-hi >= MaxGap:
		return nil, errorf(ErrTooFarAhead, "epoch %d", c.epoch)
	}
	op := &chainOpen{p: p}
	ck := c.ck
	for q := hi; ; q++ {
		next, key := step2(&ck)
		clear(ck[:])
		ck = next
		switch {
		case q == p:
			op.key, op.ck = key, ck
			return op, nil
		case p-q < Window:
			op.fresh = append(op.fresh, skippedKey{pos: q, key: key})
		default:
			clear(key[:])
		}
	}
}

// commit returns the chain after op opened.
func (c *chain) commit(op *chainOpen) *chain {
	n := &chain{epoch: c.epoch, tk: c.tk, blk: c.blk, hi: c.hi, ck: c.ck, count: min(c.count+1, RefillMark), old: c.old}
	if op.p < c.hi {
		n.gone = c.gone | 1<<(c.hi-1-op.p)
		n.skipped = make([]skippedKey, 0, len(c.skipped)-1)
		for _, s := range c.skipped {
			if s.pos != op.p {
				n.skipped = append(n.skipped, s)
			}
		}
		return n
	}
	n.gone, n.old = c.shifted(op.p + 1 - c.hi)
	n.gone |= 1 // p itself
	n.hi, n.ck = op.p+1, op.ck
	for _, s := range c.skipped {
		if op.p-s.pos < Window {
			n.skipped = append(n.skipped, s)
		}
	}
	n.skipped = append(n.skipped, op.fresh...)
	return n
}

// delta is how the tags a Table holds for c change when it becomes n.
func (c *chain) delta(n *chain) Delta {
	if n.hi == c.hi {
		return Delta{}
	}
	lo, up := window(c.hi)
	nlo, nup := window(n.hi)
	var d Delta
	d.Removed = c.appendTags(nil, lo, min(up, nlo))
	d.Added = c.appendTags(nil, max(up, nlo), nup)
	return d
}

// wipe clears c's secrets (a decoded chain the caller owns).
func (c *chain) wipe() {
	if c.seed != nil {
		clear(c.seed[:])
	}
	clear(c.ck[:])
	clear(c.tk[:])
	for i := range c.skipped {
		clear(c.skipped[i].key[:])
	}
}

// encodedLen is the length of c's encoding.
func (c *chain) encodedLen() int {
	n := 4 + 1 + 32 + 4 + 32 + 1 + 8 + 8*oldWords + len(c.skipped)*keyLen
	if c.seed != nil {
		n += seedLen
	}
	return n
}

// encode appends c's encoding (§14.7).
func (c *chain) encode(w *wire.Writer) {
	w.U32(c.epoch)
	if c.seed != nil {
		w.U8(1)
		w.Fixed(c.seed[:])
	} else {
		w.U8(0)
	}
	w.Fixed(c.tk[:])
	w.U32(c.hi)
	w.Fixed(c.ck[:])
	w.U8(c.count)
	w.U64(c.gone)
	for _, o := range c.old {
		w.U64(o)
	}
	for i := range c.skipped {
		w.Fixed(c.skipped[i].key[:])
	}
}

// decodeChain reads a chain and checks its invariants (§14.7).
func decodeChain(rd *wire.Reader) *chain {
	c := &chain{epoch: rd.U32("epoch")}
	if rd.Err() == nil && c.epoch == 0 {
		rd.Fail("epoch", wire.ErrMalformed, "epoch 0")
	}
	switch has := rd.U8("has seed"); {
	case rd.Err() != nil:
	case has > 1:
		rd.Fail("has seed", wire.ErrMalformed, "not 0 or 1")
	case has == 1:
		c.seed = new([seedLen]byte)
		copy(c.seed[:], rd.Fixed("seed", seedLen))
	}
	copy(c.tk[:], rd.Fixed("tag key", 32))
	c.hi = rd.U32("high-water mark")
	copy(c.ck[:], rd.Fixed("chain key", 32))
	c.count = rd.U8("count")
	c.gone = rd.U64("opened map")
	for i := range c.old {
		c.old[i] = rd.U64("old opened map")
	}
	if rd.Err() != nil {
		return nil
	}
	// The old map marks every position below 0 (as gone does).
	for k := uint32(0); k < 64*oldWords; k++ {
		if uint64(c.hi) < uint64(k)+65 && c.old[k/64]&(1<<(k%64)) == 0 {
			rd.Fail("old opened map", wire.ErrMalformed, "a position below 0 is not marked")
			return nil
		}
	}
	// Positions below 0 have no key; position hi-1 is the highest
	// opened, so it has none either.
	exists := ^uint64(0)
	if c.hi < 64 {
		exists = 1<<c.hi - 1
	}
	opened := min(bits.OnesCount64(c.gone&exists), RefillMark)
	switch {
	case c.hi > MaxPosition:
		rd.Fail("high-water mark", wire.ErrMalformed, "beyond the epoch")
	case c.count > RefillMark:
		rd.Fail("count", wire.ErrMalformed, "above the refill mark")
	case (c.count == 0) != (c.hi == 0):
		rd.Fail("count", wire.ErrMalformed, "count and high-water mark disagree")
	case c.gone|exists != ^uint64(0):
		rd.Fail("opened map", wire.ErrMalformed, "a position below 0 has a key")
	case c.hi > 0 && c.gone&1 == 0:
		rd.Fail("opened map", wire.ErrMalformed, "the highest position did not open")
	case int(c.count) < opened:
		rd.Fail("count", wire.ErrMalformed, "below the opened positions")
	case c.hi > 0 && c.seed != nil:
		rd.Fail("seed", wire.ErrMalformed, "seed kept after use")
	case c.hi == 0 && c.seed == nil:
		rd.Fail("seed", wire.ErrMalformed, "unused epoch without its seed")
	}
	if rd.Err() != nil {
		return nil
	}
	if c.seed != nil {
		// An unused epoch's keys are its seed's: one value, one encoding.
		tk, ck := epochKeys(c.epoch, c.seed)
		ok := subtle.ConstantTimeCompare(tk[:], c.tk[:]) & subtle.ConstantTimeCompare(ck[:], c.ck[:])
		clear(tk[:])
		clear(ck[:])
		if ok != 1 {
			rd.Fail("tag key", wire.ErrMalformed, "keys not derived from the seed")
			return nil
		}
	}
	n := 64 - bits.OnesCount64(c.gone)
	if n > 0 {
		c.skipped = make([]skippedKey, 0, n)
	}
	for k := 63; k >= 0 && rd.Err() == nil; k-- { // lowest position first
		if c.gone&(1<<k) == 0 {
			s := skippedKey{pos: c.hi - 1 - uint32(k)}
			copy(s.key[:], rd.Fixed("skipped key", keyLen))
			c.skipped = append(c.skipped, s)
		}
	}
	if rd.Err() != nil {
		return nil
	}
	c.blk = tagCipher(&c.tk)
	return c
}
