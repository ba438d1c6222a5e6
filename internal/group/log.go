package group

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// Log is a member's view of a group: the current state and the last
// MaxHistory changes with the states before them, enough to resolve
// concurrent changes. A Log is not safe for concurrent use.
//
// Resolution: two changes for the same version made on the same state are
// ordered the same way everywhere: any other change beats a join, and
// otherwise the lower Change.Hash wins. A join never displaces a change
// other than a join, even one applied after the join it races. A member that applied
// the loser first rolls it back (with everything built on it) and applies
// the winner; Receive returns what it rolled back so an author can Rebase
// its own changes. Members that received the same changes therefore end
// with the same state, whatever the order of delivery.
type Log struct {
	base    *State  // the state before entries[0]
	entries []entry // applied changes, oldest first
	// lost are joins that lost a race to another join (refused or
	// displaced), newest last, kept so that a change built on one of them
	// can bring it back (reinstate).
	lost []*Change
}

type entry struct {
	change *Change
	hash   [32]byte // change.Hash()
	state  *State   // the state after change
}

// NewLog starts a Log at st (a state from Create, Apply(nil, create) or
// storage).
func NewLog(st *State) *Log { return &Log{base: st} }

// Current returns the current state.
func (l *Log) Current() *State {
	if len(l.entries) == 0 {
		return l.base
	}
	return l.entries[len(l.entries)-1].state
}

// StateAt returns the state at version v, if the Log still holds it.
func (l *Log) StateAt(v uint64) (*State, bool) {
	st, _, ok := l.stateAt(v)
	return st, ok
}

// stateAt returns the state at version v, if the Log still holds it.
func (l *Log) stateAt(v uint64) (*State, int, bool) {
	if v == l.base.version {
		return l.base, -1, true
	}
	if v < l.base.version || v > l.Current().version {
		return nil, 0, false
	}
	i := int(v - l.base.version - 1)
	return l.entries[i].state, i, true
}

// Receive applies c. A change for the next version is applied as Apply
// would. A change for a version already applied is a concurrent change: if
// it was made on the state this member holds at its parent version and
// its hash is lower than the applied change's, it replaces that change and
// every later one, which Receive returns (dropped) for their authors to
// rebase; otherwise it is refused with ErrLostRace (or ErrStale for a
// replay). Any other change beats a join, and a join never displaces a
// change other than a join. A join that lost to another join is kept
// (Lost): a change other than a join later built on it brings it back and
// drops the joins applied in its place. On any other error the Log is
// unchanged.
func (l *Log) Receive(c *Change) (dropped []*Change, err error) {
	dropped, err = l.receive(c)
	if errors.Is(err, ErrFork) {
		if d, rerr := l.reinstate(c); rerr == nil {
			return d, nil
		}
	}
	if c.Kind == KindJoin && (errors.Is(err, errJoinLost) || err == nil && len(dropped) > 0) {
		if err == nil {
			l.remember(dropped...)
		} else {
			l.remember(c)
		}
	}
	return dropped, err
}

// errJoinLost marks a join that lost the race against another join.
var errJoinLost = fmt.Errorf("%w: another join for this version has a lower hash", ErrLostRace)

// Lost returns the joins this Log keeps because they lost a race to
// another join, oldest first; Remember restores them in a Log rebuilt from
// storage.
func (l *Log) Lost() []*Change { return slices.Clone(l.lost) }

// Remember keeps joins that lost a race to another join (see Lost).
func (l *Log) Remember(joins ...*Change) { l.remember(joins...) }

func (l *Log) remember(joins ...*Change) {
	for _, j := range joins {
		if j.Kind != KindJoin || slices.ContainsFunc(l.lost, func(x *Change) bool { return x.Hash() == j.Hash() }) {
			continue
		}
		l.lost = append(l.lost, j)
	}
	if n := len(l.lost) - MaxHistory; n > 0 {
		l.lost = slices.Delete(l.lost, 0, n)
	}
}

// reinstate applies c, which Receive refused with ErrFork, when c is not a
// join and is built on a join this Log holds as lost: a change other than
// a join was made on that join, so it beats the joins applied in its
// place (a join never displaces such a change, wherever it is applied).
// The lost join comes back with c on top; the joins it displaces are
// returned and kept as lost. It fails (ErrFork) otherwise, the Log
// unchanged.
func (l *Log) reinstate(c *Change) ([]*Change, error) {
	if c.Kind == KindJoin {
		return nil, ErrFork
	}
	for k, d := range l.lost {
		if d.Version+1 != c.Version {
			continue
		}
		parent, _, okParent := l.stateAt(d.Version - 1)
		_, i, ok := l.stateAt(d.Version)
		if !okParent || !ok || i < 0 {
			continue
		}
		mid, err := Apply(parent, d)
		if err != nil || mid.Hash() != c.Prev {
			continue
		}
		next, err := Apply(mid, c)
		if err != nil {
			return nil, err
		}
		var dropped []*Change
		for _, e := range l.entries[i:] {
			if e.change.Kind != KindJoin {
				return nil, ErrFork
			}
			dropped = append(dropped, e.change)
		}
		l.lost = slices.Delete(l.lost, k, k+1)
		l.entries = l.entries[:i]
		l.push(entry{change: d, hash: d.Hash(), state: mid})
		l.push(entry{change: c, hash: c.Hash(), state: next})
		l.remember(dropped...)
		return dropped, nil
	}
	return nil, ErrFork
}

func (l *Log) receive(c *Change) (dropped []*Change, err error) {
	cur := l.Current()
	if c.Version > cur.version {
		next, err := Apply(cur, c)
		if err != nil {
			return nil, err
		}
		l.push(entry{change: c, hash: c.Hash(), state: next})
		return nil, nil
	}
	if c.GroupID != cur.id {
		return nil, ErrWrongGroup
	}
	parent, _, okParent := l.stateAt(c.Version - 1)
	_, i, ok := l.stateAt(c.Version)
	if !ok || !okParent || i < 0 {
		return nil, fmt.Errorf("%w: version %d is older than the log", ErrStale, c.Version)
	}
	h := c.Hash()
	if h == l.entries[i].hash {
		return nil, fmt.Errorf("%w: change already applied", ErrStale)
	}
	next, err := Apply(parent, c)
	if err != nil {
		return nil, err
	}
	if !beats(c, h, l.entries[i]) {
		if c.Kind == KindJoin && l.entries[i].change.Kind == KindJoin {
			return nil, errJoinLost
		}
		return nil, ErrLostRace
	}
	if c.Kind == KindJoin {
		// A join never rolls back a change a member made on the group (a
		// removal, above all): a removed member joining again on an old
		// listing must not undo its removal.
		for _, e := range l.entries[i:] {
			if e.change.Kind != KindJoin {
				return nil, fmt.Errorf("%w: a join cannot displace a %s", ErrLostRace, e.change.Kind)
			}
		}
	}
	for _, e := range l.entries[i:] {
		dropped = append(dropped, e.change)
	}
	l.entries = l.entries[:i]
	l.push(entry{change: c, hash: h, state: next})
	return dropped, nil
}

// beats reports whether c (whose hash is h) wins the race against e, the
// change applied at the same version: any other change beats a join, and
// otherwise the lower hash wins.
func beats(c *Change, h [32]byte, e entry) bool {
	if cj, ej := c.Kind == KindJoin, e.change.Kind == KindJoin; cj != ej {
		return ej
	}
	return bytes.Compare(h[:], e.hash[:]) < 0
}

// Since returns the applied changes from version v on, oldest first (nil
// when the Log no longer holds version v).
func (l *Log) Since(v uint64) []*Change {
	if v <= l.base.version {
		return nil
	}
	var out []*Change
	for _, e := range l.entries {
		if e.change.Version >= v {
			out = append(out, e.change)
		}
	}
	return out
}

func (l *Log) push(e entry) {
	l.entries = append(l.entries, e)
	if len(l.entries) > MaxHistory {
		l.base = l.entries[0].state
		l.entries = append(l.entries[:0], l.entries[1:]...)
	}
}
