package localstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/hush-chat/hush/internal/storage"
)

// Messages are stored under a local sequence number (insertion order), a
// blinded conversation and a blinded message id:
//
//	messages     conv || seq || id → sealed (conversation, id, time, record)
//	message_ids  conv || id        → seq
//	unshown      seq               → conv || id   (received, not yet shown)
//	counters     "messages"        → the last seq given out
//
// conv and id are 32 bytes, seq 8 bytes big-endian, so a scan of the
// prefix conv is a conversation's history in order. The sealed value's
// associated data covers conversation, id and sequence number (in the
// order conv || id || seq, as format 1 had it), so a row moved to another
// conversation or place in history fails to open.

const blindSize = 32 // HMAC-SHA256

var counterMessages = []byte("messages")

func (k *keys) convKey(conversation []byte) []byte {
	return k.blind(tConversations, conversation)
}

// msgKey blinds a message id within its conversation: the blinded
// conversation is fixed-length, so the input is unambiguous.
func (k *keys) msgKey(conv, id []byte) []byte {
	return k.blind(tMessages, append(slices.Clip(conv), id...))
}

// msgAD is the row key the message's associated data covers.
func msgAD(conv, id []byte, seq uint64) []byte {
	return append(append(slices.Clone(conv), id...), be64(seq)...)
}

// msgKeyRow is the key of a message's row in the messages table.
func msgKeyRow(conv, id []byte, seq uint64) []byte {
	return append(append(slices.Clone(conv), be64(seq)...), id...)
}

// splitMsgRow takes a messages row key apart.
func splitMsgRow(k []byte) (conv, id []byte, seq uint64, err error) {
	if len(k) != 2*blindSize+8 {
		return nil, nil, 0, fmt.Errorf("%w: malformed message key", ErrCorrupt)
	}
	return k[:blindSize], k[blindSize+8:], binary.BigEndian.Uint64(k[blindSize:]), nil
}

// lookup returns the sequence number of message mid of conv.
func (tx *Tx) lookup(conv, mid []byte) (uint64, bool, error) {
	v, ok, err := tx.get(tMessageIDs, append(slices.Clone(conv), mid...))
	if err != nil || !ok {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("%w: malformed message index", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// AddMessage stores record as message id of conversation, received or
// sent at at, after every message stored so far. If that id is already
// stored for that conversation it stores nothing and returns false.
func (tx *Tx) AddMessage(conversation string, id []byte, at time.Time, record []byte) (bool, error) {
	return tx.addMessage(conversation, id, at, record, false)
}

// AddIncoming is AddMessage for a received message, marked unshown (see
// SetUnshown) when unshown is set.
func (tx *Tx) AddIncoming(conversation string, id []byte, at time.Time, record []byte, unshown bool) (bool, error) {
	return tx.addMessage(conversation, id, at, record, unshown)
}

func (tx *Tx) addMessage(conversation string, id []byte, at time.Time, record []byte, unshown bool) (bool, error) {
	if err := tx.writable(); err != nil {
		return false, err
	}
	conv := tx.k.convKey([]byte(conversation))
	mid := tx.k.msgKey(conv, id)
	if _, ok, err := tx.lookup(conv, mid); err != nil || ok {
		return false, err
	}
	// Writers are serialized, so the next number is free until commit.
	seq, err := tx.nextSeq()
	if err != nil {
		return false, err
	}
	pt := encodeFields([]byte(conversation), id, be64(uint64(at.UnixMilli())), record)
	defer clear(pt)
	v := tx.k.seal(pt, tMessages, msgAD(conv, mid, seq))
	if err := tx.put(tMessages, msgKeyRow(conv, mid, seq), v); err != nil {
		return false, err
	}
	if err := tx.put(tMessageIDs, append(slices.Clone(conv), mid...), be64(seq)); err != nil {
		return false, err
	}
	if unshown {
		if err := tx.put(tUnshown, be64(seq), append(slices.Clone(conv), mid...)); err != nil {
			return false, err
		}
	}
	return true, nil
}

// nextSeq gives out the next message number. The counter is read once
// per transaction (a page of messages stores many): writers are
// serialized, so no one else moves it meanwhile.
func (tx *Tx) nextSeq() (uint64, error) {
	if tx.lastSeq == 0 {
		v, ok, err := tx.get(tCounters, counterMessages)
		if err != nil {
			return 0, err
		}
		if ok {
			if len(v) != 8 {
				return 0, fmt.Errorf("%w: malformed message counter", ErrCorrupt)
			}
			tx.lastSeq = binary.BigEndian.Uint64(v)
		}
	}
	seq := tx.lastSeq + 1
	if err := tx.put(tCounters, counterMessages, be64(seq)); err != nil {
		return 0, err
	}
	tx.lastSeq = seq
	return seq, nil
}

// UpdateMessage replaces the record of message id of conversation (a
// delivery state changed), keeping its place in history. ErrNotFound if
// there is no such message.
func (tx *Tx) UpdateMessage(conversation string, id []byte, record []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	conv := tx.k.convKey([]byte(conversation))
	mid := tx.k.msgKey(conv, id)
	f, seq, err := tx.loadMessage(conv, mid)
	if err != nil {
		return err
	}
	pt := encodeFields(f[0], f[1], f[2], record)
	defer clear(pt)
	return tx.put(tMessages, msgKeyRow(conv, mid, seq), tx.k.seal(pt, tMessages, msgAD(conv, mid, seq)))
}

// loadMessage opens message mid of conv: its fields and sequence number.
func (tx *Tx) loadMessage(conv, mid []byte) ([][]byte, uint64, error) {
	seq, ok, err := tx.lookup(conv, mid)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, ErrNotFound
	}
	v, ok, err := tx.get(tMessages, msgKeyRow(conv, mid, seq))
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, fmt.Errorf("%w: indexed message missing", ErrCorrupt)
	}
	f, err := tx.openMessage(v, msgAD(conv, mid, seq))
	return f, seq, err
}

// openMessage opens a message value: conversation, id, time, record.
func (tx *Tx) openMessage(v, ad []byte) ([][]byte, error) {
	pt, err := tx.k.open(v, tMessages, ad)
	if err != nil {
		return nil, err
	}
	f, err := decodeFields(pt, 4)
	if err != nil {
		return nil, err
	}
	if len(f[2]) != 8 {
		return nil, fmt.Errorf("%w: malformed message time", ErrCorrupt)
	}
	return f, nil
}

// History returns the records of the last limit messages of conversation
// (all of them if limit <= 0), oldest first, in the order they were added.
func (tx *Tx) History(conversation string, limit int) ([][]byte, error) {
	conv := tx.k.convKey([]byte(conversation))
	var out [][]byte
	err := tx.scan(tMessages, conv, storage.PrefixEnd(conv), true, func(k, v []byte) error {
		c, mid, seq, err := splitMsgRow(k)
		if err != nil {
			return err
		}
		f, err := tx.openMessage(v, msgAD(c, mid, seq))
		if err != nil {
			return err
		}
		// Defense in depth: the associated data already binds the row.
		if !bytes.Equal(f[0], []byte(conversation)) {
			return fmt.Errorf("%w: message filed under another conversation", ErrCorrupt)
		}
		out = append(out, bytes.Clone(f[3]))
		if limit > 0 && len(out) == limit {
			return errStop
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

// GetMessage returns the record of message id of conversation, or
// ErrNotFound.
func (tx *Tx) GetMessage(conversation string, id []byte) ([]byte, error) {
	conv := tx.k.convKey([]byte(conversation))
	f, _, err := tx.loadMessage(conv, tx.k.msgKey(conv, id))
	if err != nil {
		return nil, err
	}
	return f[3], nil
}

// SetUnshown marks message id of conversation as received but not yet
// shown to the user (unshown true), or as shown. The mark is the one
// thing about a message stored in the clear besides its place: a reader
// of the store learns how many messages wait to be seen, not which.
func (tx *Tx) SetUnshown(conversation string, id []byte, unshown bool) error {
	if err := tx.writable(); err != nil {
		return err
	}
	conv := tx.k.convKey([]byte(conversation))
	mid := tx.k.msgKey(conv, id)
	seq, ok, err := tx.lookup(conv, mid)
	if err != nil || !ok {
		return err
	}
	if unshown {
		return tx.put(tUnshown, be64(seq), append(slices.Clone(conv), mid...))
	}
	return tx.del(tUnshown, be64(seq))
}

// Unshown returns the records of up to limit messages marked unshown
// (all if limit <= 0), in the order they were stored.
func (tx *Tx) Unshown(limit int) ([][]byte, error) {
	var out [][]byte
	err := tx.scan(tUnshown, nil, nil, false, func(k, v []byte) error {
		if len(k) != 8 || len(v) != 2*blindSize {
			return fmt.Errorf("%w: malformed unshown mark", ErrCorrupt)
		}
		seq := binary.BigEndian.Uint64(k)
		conv, mid := v[:blindSize], v[blindSize:]
		mv, ok, err := tx.get(tMessages, msgKeyRow(conv, mid, seq))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: marked message missing", ErrCorrupt)
		}
		f, err := tx.openMessage(mv, msgAD(conv, mid, seq))
		if err != nil {
			return err
		}
		out = append(out, bytes.Clone(f[3]))
		if limit > 0 && len(out) == limit {
			return errStop
		}
		return nil
	})
	return out, err
}
