package group

import (
	"fmt"

	"github.com/hush-chat/hush/internal/wire"
)

const (
	logVersion = 0x01
	logStruct  = "group log"
	// maxLogSize bounds a stored Log: its base state and MaxHistory
	// changes, each with a u32 length.
	maxLogSize = 1 + 4 + maxStateSize + 1 + MaxHistory*(4+maxChangeSize)
	// minChangeSize is the shortest change (a leave with a one-byte
	// signer), which bounds how many the remaining bytes can hold.
	minChangeSize = 1 + IDSize + 8 + 32 + 1 + 1 + 1 + sigSize
)

// MarshalBinary returns the Log's stored encoding (doc/SPEC.md §12.13):
//
//	u8(0x01) || bytes32(base state) || u8(n) || bytes32(change) * n
//
// The base is the state before the oldest change kept; the changes are
// oldest first. The states after each change are not stored: ParseLog
// applies the changes again. The encoding names the members, so the
// client stores it encrypted, with its other group secrets.
func (l *Log) MarshalBinary() ([]byte, error) {
	if l.base == nil {
		return nil, fmt.Errorf("%w: a log needs a state", ErrInvalid)
	}
	w := wire.NewWriter(nil)
	w.U8(logVersion)
	w.Bytes32(l.base.Marshal())
	w.U8(uint8(len(l.entries)))
	for _, e := range l.entries {
		w.Bytes32(e.change.raw)
	}
	return w.Bytes(), nil
}

// ParseLog restores a Log from MarshalBinary's encoding. Each change must
// apply (Apply) to the state before it, so a stored log cannot hold a
// change this member would have refused, and the states are rebuilt
// rather than trusted. Any accepted input re-encodes to the same bytes.
func ParseLog(b []byte) (*Log, error) {
	if len(b) > maxLogSize {
		return nil, wire.Errorf(logStruct, "", wire.ErrTooLarge, "%d bytes, limit %d", len(b), maxLogSize)
	}
	r := wire.NewReader(logStruct, b)
	r.Version(logVersion)
	base := r.Bytes32("base", maxStateSize)
	n := int(r.U8("changes.count"))
	if r.Err() == nil && n > MaxHistory {
		r.Fail("changes", wire.ErrTooLarge, fmt.Sprintf("%d changes, limit %d", n, MaxHistory))
	}
	if r.Err() == nil && n*(4+minChangeSize) > r.Len() {
		r.Fail("changes", wire.ErrTruncated, fmt.Sprintf("%d changes do not fit %d bytes", n, r.Len()))
	}
	raws := make([][]byte, 0, n)
	for i := 0; i < n && r.Err() == nil; i++ {
		raws = append(raws, r.Bytes32("changes", maxChangeSize))
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	st, err := ParseState(base)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", wire.Errorf(logStruct, "base", wire.ErrMalformed, "not a state"), err)
	}
	l := NewLog(st)
	for i, raw := range raws {
		if err := l.replay(raw); err != nil {
			field := fmt.Sprintf("changes[%d]", i)
			return nil, fmt.Errorf("%w: %w", wire.Errorf(logStruct, field, wire.ErrMalformed, "does not apply to the state before it"), err)
		}
	}
	return l, nil
}

// replay decodes raw and appends it as the next change. It never trims:
// the count was checked against MaxHistory.
func (l *Log) replay(raw []byte) error {
	c, err := ParseChange(raw)
	if err != nil {
		return err
	}
	next, err := Apply(l.Current(), c)
	if err != nil {
		return err
	}
	l.entries = append(l.entries, entry{change: c, hash: c.Hash(), state: next})
	return nil
}
