package tagged

import (
	"crypto/cipher"
	"slices"
)

// Table maps every tag a device holds to the session it belongs to, over
// all its sessions (§14.6), so a receive path finds an envelope's session
// with one lookup and tries nothing in the common case. K is the caller's
// session key (for example peer user and device). For each continuable
// epoch it holds the tags of the positions around the high-water mark, and
// keeps the epoch's tag key (secret) to find a tag beyond them (Lookup's
// trial). A Table lives in memory, is built from the stored Receivers
// (Apply of Receiver.Held) at start and follows every Delta after the
// state that made it is stored. It is not safe for concurrent use.
type Table[K comparable] struct {
	owner map[Tag]K
	trial map[K][]trialEpoch
}

// trialEpoch is a continuable epoch of a session as the table knows it.
type trialEpoch struct {
	epoch uint32
	tk    [32]byte // with epoch, names the epoch: a retired receiver may hold another of the same number
	blk   cipher.Block
}

// NewTable returns an empty table.
func NewTable[K comparable]() *Table[K] {
	return &Table[K]{owner: map[Tag]K{}, trial: map[K][]trialEpoch{}}
}

// Add maps tags to k. A tag another session already owns keeps its first
// owner (two sessions drawing one tag is a 2^-128 event).
func (t *Table[K]) Add(k K, tags []Tag) {
	for _, g := range tags {
		if _, ok := t.owner[g]; !ok {
			t.owner[g] = k
		}
	}
}

// Remove unmaps those of tags that k owns.
func (t *Table[K]) Remove(k K, tags []Tag) {
	for _, g := range tags {
		if o, ok := t.owner[g]; ok && o == k {
			delete(t.owner, g)
		}
	}
}

// Apply follows a Delta of session k (an Offer's, an Open's, or Held for a
// session the table does not know yet). Call it after the new Receiver is
// stored; apply one session's deltas in the order they were made. Its cost
// is that of the change.
func (t *Table[K]) Apply(k K, d Delta) {
	t.Remove(k, d.Removed)
	t.Add(k, d.Added)
	if len(d.Dropped) == 0 && len(d.Marks) == 0 {
		return
	}
	eps := t.trial[k]
	for _, m := range d.Dropped {
		for i := range eps {
			if eps[i].epoch == m.Epoch && eps[i].tk == m.tk {
				eps = append(eps[:i:i], eps[i+1:]...)
				break
			}
		}
	}
	for _, m := range d.Marks {
		if !slices.ContainsFunc(eps, func(e trialEpoch) bool { return e.epoch == m.Epoch && e.tk == m.tk }) {
			eps = append(eps, trialEpoch{epoch: m.Epoch, tk: m.tk, blk: tagCipher(&m.tk)})
		}
	}
	if len(eps) == 0 {
		delete(t.trial, k)
	} else {
		t.trial[k] = eps
	}
}

// Forget unmaps the tags of k among tags and every epoch of k the table
// keeps for its trial: what a dropped session needs.
func (t *Table[K]) Forget(k K, tags []Tag) {
	t.Remove(k, tags)
	delete(t.trial, k)
}

// Lookup returns the session owning tag g: the one whose window holds it
// (Owner), else (a gap beyond the window) the one whose continuable epoch
// decrypts it to a position (Trial).
func (t *Table[K]) Lookup(g Tag) (K, bool) {
	if k, ok := t.owner[g]; ok {
		return k, true
	}
	return t.Trial(g)
}

// Owner returns the session whose window holds tag g: one map lookup.
func (t *Table[K]) Owner(g Tag) (K, bool) {
	k, ok := t.owner[g]
	return k, ok
}

// Trial returns the session one of whose continuable epochs decrypts g to
// a position. A tag no session made costs one AES block decryption per
// continuable epoch held, and never a chain derivation. A position below
// the window or more than MaxGap above it is found too: only the peer can
// make its tag, and the session's receiver refuses it as too old or too
// far ahead (which its owner may want to answer) before deriving anything.
func (t *Table[K]) Trial(g Tag) (K, bool) {
	for k, eps := range t.trial {
		for i := range eps {
			if _, ok := positionOf(eps[i].blk, &g); ok {
				return k, true
			}
		}
	}
	var zero K
	return zero, false
}

// Len returns the number of tags mapped.
func (t *Table[K]) Len() int { return len(t.owner) }

// Epochs returns the number of continuable epochs kept for the trial.
func (t *Table[K]) Epochs() int {
	n := 0
	for _, eps := range t.trial {
		n += len(eps)
	}
	return n
}
