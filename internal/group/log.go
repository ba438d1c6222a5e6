package group

import (
	"bytes"
	"fmt"
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
// replay). On error the Log is unchanged.
func (l *Log) Receive(c *Change) (dropped []*Change, err error) {
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
