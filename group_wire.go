package hush

import (
	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/wire"
)

// Group control travels as application messages over the pairwise
// sessions (doc/SPEC.md §11.2); group messages travel once, through the
// relay's fan-out, as groupEnvelope || group message (§12).
const (
	// groupEnvelope is the first byte of an envelope holding a group
	// message rather than a sealed envelope.
	groupEnvelope = 0x03
	// groupPlainVersion starts the plaintext of a group message:
	// u8 0x01 || message id (16) || u64 sent at (Unix ms) || app message.
	groupPlainVersion = 0x01
	maxGroupState     = 1 << 20
)

// encodeGroupChange encodes a group change message: Bytes32(state) ||
// change. state is the state the change applies to, sent only to a member
// the change brings in (who has no state yet); empty otherwise.
func encodeGroupChange(prev *group.State, ch *group.Change) []byte {
	w := wire.NewWriter(nil)
	w.U8(appVersion)
	w.U8(appKindGroupChange)
	var st []byte
	if prev != nil {
		st = prev.Marshal()
	}
	w.Bytes32(st)
	w.Fixed(ch.Marshal())
	return w.Bytes()
}

func decodeGroupChange(body []byte) (*group.State, *group.Change, error) {
	r := wire.NewReader("group change message", body)
	sb := r.Bytes32("state", maxGroupState)
	cb := r.Rest()
	if err := r.Err(); err != nil {
		return nil, nil, err
	}
	var prev *group.State
	if len(sb) > 0 {
		var err error
		if prev, err = group.ParseState(sb); err != nil {
			return nil, nil, err
		}
	}
	ch, err := group.ParseChange(cb)
	if err != nil {
		return nil, nil, err
	}
	return prev, ch, nil
}

// encodeGroupKey encodes a sender key message: a group.Distribution.
func encodeGroupKey(d *group.Distribution) []byte {
	return append([]byte{appVersion, appKindGroupKey}, d.Marshal()...)
}

// encodeJoinRequest encodes a join request message: a group.JoinRequest.
func encodeJoinRequest(j *group.JoinRequest) []byte {
	return append([]byte{appVersion, appKindJoinRequest}, j.Marshal()...)
}

func encodeGroupPlain(id [16]byte, sentAt int64, app []byte) []byte {
	w := wire.NewWriter(make([]byte, 0, 1+16+8+len(app)))
	w.U8(groupPlainVersion)
	w.Fixed(id[:])
	w.U64(uint64(sentAt))
	w.Fixed(app)
	return w.Bytes()
}

func decodeGroupPlain(b []byte) (id [16]byte, sentAt int64, app []byte, err error) {
	r := wire.NewReader("group message plaintext", b)
	r.Version(groupPlainVersion)
	copy(id[:], r.Fixed("id", 16))
	sentAt = int64(r.U64("sent_at"))
	app = r.Rest()
	return id, sentAt, app, r.Err()
}
