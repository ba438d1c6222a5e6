package tagged

// Table maps every tag a device holds to the session it belongs to, over
// all its sessions (§14.6), so a receive path finds an envelope's session
// with one lookup and tries nothing. K is the caller's session key (for
// example peer user and device). A Table lives in memory and is rebuilt
// from the stored Receivers (Add) at start. It is not safe for concurrent
// use.
type Table[K comparable] struct {
	owner map[Tag]K
}

// NewTable returns an empty table.
func NewTable[K comparable]() *Table[K] { return &Table[K]{owner: map[Tag]K{}} }

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

// Apply follows an Offer of session k. Call it after the new Receiver is
// stored.
func (t *Table[K]) Apply(k K, d Delta) {
	t.Remove(k, d.Removed)
	t.Add(k, d.Added)
}

// Lookup returns the session owning tag g.
func (t *Table[K]) Lookup(g Tag) (K, bool) {
	k, ok := t.owner[g]
	return k, ok
}

// Len returns the number of tags mapped.
func (t *Table[K]) Len() int { return len(t.owner) }
