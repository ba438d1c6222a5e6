// Package sessbook holds what a client keeps per session with one peer
// device and the per-message steps it runs on it (doc/SPEC.md §14.8):
// the stored session record (ratchet state, the tagged envelope sender
// and receiver, archived sessions) in a strict binary encoding, a cache
// of verified device certificates, and sealing and opening one message
// on an established session. The client (package hush) runs these steps
// inside its profile transactions; `hush bench crypto` runs the same
// functions to measure a message's CPU cost.
//
// The package is pure: no I/O, no clock. A Record is a value the caller
// owns; the steps change the Record they are given only when they
// succeed (copy, then commit).
package sessbook

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/wire"
)

// Record is a stored session with one peer device.
type Record struct {
	// State is ratchet.State.MarshalBinary; empty when there is no
	// session (a reset dropped it) but the tagged receiver is kept.
	State []byte
	// PreKey is the initiator's first prekey message (header and first
	// ratchet message). Until the peer answers, every message goes out as a
	// prekey message with this header.
	PreKey []byte
	// BaseKey is, on the responder side, the initiator's base key: later
	// prekey messages with the same base key belong to this session.
	BaseKey []byte
	// Archived are earlier sessions with the same device, kept (at most
	// MaxArchived, newest last) to read what the peer sent on them.
	Archived []Archived
	// TagSend is the tagged envelope sender towards the peer
	// (tagged.Sender.MarshalBinary), empty when it holds none.
	TagSend []byte
	// TagRecv is the tagged envelope receiver from the peer
	// (tagged.Receiver.MarshalBinary), empty when it offered none.
	TagRecv []byte
	// TagOld is a receiver retired when the profile was found restored
	// from an older copy: it still opens what the peer seals to its
	// batches (so the message is attributed and session recovery asks for
	// it again) but never offers again, since the peer may have used its
	// pending batch after the copy was made.
	TagOld []byte
	// OfferDue: the receiver is to offer the peer a batch at the next
	// occasion: a new session started (the pending batch again, or a
	// fresh one), or the newest batch opened RefillMark positions
	// (OpenRecord sets it), or the session predates tagged envelopes.
	OfferDue bool
}

// Archived is a session that is no longer used for sending.
type Archived struct {
	State   []byte `json:"state"`
	BaseKey []byte `json:"base_key,omitempty"`
}

// MaxArchived bounds the archived sessions per peer device.
const MaxArchived = 3

// Has reports whether r holds a ratchet session.
func (r *Record) Has() bool { return len(r.State) > 0 }

// Archive keeps a session for reading only, dropping the oldest beyond
// MaxArchived.
func (r *Record) Archive(state, baseKey []byte) {
	r.Archived = append(r.Archived, Archived{State: state, BaseKey: baseKey})
	if len(r.Archived) > MaxArchived {
		r.Archived = r.Archived[len(r.Archived)-MaxArchived:]
	}
}

// Clone returns a copy of r that shares no archived states with it.
func (r Record) Clone() Record {
	r.Archived = append([]Archived(nil), r.Archived...)
	return r
}

// Encoding (doc/SPEC.md §14.8):
//
//	record   = u8(0x02) || u8(flags) || b32(state) || b32(prekey) || b8(base_key)
//	           || b32(tag_send) || b32(tag_recv) || b32(tag_old) || u8(n ≤ 3) || n × (b32(state) || b8(base_key))
//
// flags: bit 0 offer due; other bits zero. A record whose first byte is
// '{' is the JSON record of version 1 clients.
const (
	recordVersion = 0x02
	flagOfferDue  = 0x01
	maxField      = 16 << 20 // a state with every skipped key, a prekey message with a 64 KiB text: far below
)

// ErrCorrupt: a stored record that does not decode.
var ErrCorrupt = errors.New("corrupt session record")

// Encode returns r's binary encoding. It is secret.
func (r *Record) Encode() []byte {
	n := 1 + 1 + 4 + len(r.State) + 4 + len(r.PreKey) + 1 + len(r.BaseKey) + 4 + len(r.TagSend) + 4 + len(r.TagRecv) + 4 + len(r.TagOld) + 1
	for _, a := range r.Archived {
		n += 4 + len(a.State) + 1 + len(a.BaseKey)
	}
	w := wire.NewWriter(make([]byte, 0, n))
	w.U8(recordVersion)
	var flags uint8
	if r.OfferDue {
		flags |= flagOfferDue
	}
	w.U8(flags)
	w.Bytes32(r.State)
	w.Bytes32(r.PreKey)
	w.Bytes8(r.BaseKey)
	w.Bytes32(r.TagSend)
	w.Bytes32(r.TagRecv)
	w.Bytes32(r.TagOld)
	w.U8(uint8(len(r.Archived)))
	for _, a := range r.Archived {
		w.Bytes32(a.State)
		w.Bytes8(a.BaseKey)
	}
	return w.Bytes()
}

// legacy is the JSON record version 1 clients stored.
type legacy struct {
	State    []byte     `json:"state"`
	PreKey   []byte     `json:"prekey,omitempty"`
	BaseKey  []byte     `json:"base_key,omitempty"`
	Archived []Archived `json:"archived,omitempty"`
}

// Decode decodes a stored record strictly: the binary encoding, or the
// JSON record of version 1 (first byte '{'), which has no tagged state.
// Decoded fields alias b, which the caller must not change afterwards.
func Decode(b []byte) (Record, error) {
	if len(b) > 0 && b[0] == '{' {
		var l legacy
		if err := json.Unmarshal(b, &l); err != nil {
			return Record{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		// A version 1 session holds no tagged state: its first offer is due.
		return Record{State: l.State, PreKey: l.PreKey, BaseKey: l.BaseKey, Archived: l.Archived, OfferDue: true}, nil
	}
	rd := wire.NewReader("session record", b)
	rd.Version(recordVersion)
	flags := rd.U8("flags")
	r := Record{
		State:   clone(rd.Bytes32("state", maxField)),
		PreKey:  clone(rd.Bytes32("prekey", maxField)),
		BaseKey: clone(rd.Bytes8("base_key", 255)),
		TagSend: clone(rd.Bytes32("tag_send", maxField)),
		TagRecv: clone(rd.Bytes32("tag_recv", maxField)),
		TagOld:  clone(rd.Bytes32("tag_old", maxField)),
	}
	n := int(rd.U8("archived"))
	if rd.Err() == nil && n > MaxArchived {
		rd.Fail("archived", wire.ErrMalformed, "too many archived sessions")
	}
	for i := 0; i < n && rd.Err() == nil; i++ {
		r.Archived = append(r.Archived, Archived{State: clone(rd.Bytes32("archived_state", maxField)), BaseKey: clone(rd.Bytes8("archived_base_key", 255))})
	}
	if err := rd.Done(); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	// Unknown flags would mean a record written by a newer client.
	if flags&^flagOfferDue != 0 {
		return Record{}, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags)
	}
	r.OfferDue = flags&flagOfferDue != 0
	return r, nil
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
