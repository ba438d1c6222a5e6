package localstore

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/storage"
)

// The seen-set:
//
//	seen_sources  src          → sealed source name (for ChangePassphrase)
//	seen_counts   src          → how many numbers seen holds for src, 8 bytes
//	seen          src || seq'  → empty
//
// src is the blinded source name; seq' is the sequence number with its
// sign bit flipped, big-endian, so keys sort as the numbers do.

func seenKey(src []byte, seq int64) []byte {
	return binary.BigEndian.AppendUint64(slices.Clone(src), uint64(seq)^(1<<63))
}

// MarkSeen records that relay sequence number seq of source (a relay
// mailbox, a broker topic: any name) was processed, and reports whether it
// already was. It keeps the newest 100,000 numbers of each source; a
// number older than all of those counts as unseen again, so callers still
// dedupe messages by id (AddMessage). The source name is stored blinded;
// the numbers are stored in the clear.
func (tx *Tx) MarkSeen(source string, seq int64) (already bool, err error) {
	if err := tx.writable(); err != nil {
		return false, err
	}
	src := tx.k.blind(tSeen, []byte(source))
	k := seenKey(src, seq)
	if _, ok, err := tx.get(tSeenSeqs, k); err != nil || ok {
		return ok, err
	}
	if err := tx.put(tSeenSeqs, k, nil); err != nil {
		return false, err
	}
	n, err := tx.countSeen(src, source)
	if err != nil {
		return false, err
	}
	// Prune in steps of keepSeen/64 rows: finding the cut-off walks
	// keepSeen keys, too slow to do for every message.
	if n > int64(tx.keepSeen+tx.keepSeen/64) {
		if err := tx.pruneSeen(src); err != nil {
			return false, err
		}
	}
	return false, nil
}

// countSeen adds one to the count of numbers stored for src and returns
// it, registering the source (its name sealed, for ChangePassphrase) the
// first time.
func (tx *Tx) countSeen(src []byte, source string) (int64, error) {
	v, ok, err := tx.get(tSeenCounts, src)
	if err != nil {
		return 0, err
	}
	var n uint64
	if ok {
		if len(v) != 8 {
			return 0, fmt.Errorf("%w: malformed seen count", ErrCorrupt)
		}
		n = binary.BigEndian.Uint64(v)
	} else {
		pt := encodeFields([]byte(source))
		if err := tx.put(tSeen, src, tx.k.seal(pt, tSeen, src)); err != nil {
			return 0, err
		}
	}
	n++
	return int64(n), tx.put(tSeenCounts, src, be64(n))
}

// pruneSeen keeps the newest keepSeen numbers of src.
func (tx *Tx) pruneSeen(src []byte) error {
	var old [][]byte
	kept := 0
	err := tx.scan(tSeenSeqs, src, storage.PrefixEnd(src), true, func(k, _ []byte) error {
		if kept < tx.keepSeen {
			kept++
			return nil
		}
		old = append(old, slices.Clone(k))
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := tx.del(tSeenSeqs, k); err != nil {
			return fmt.Errorf("localstore: prune seen: %w", err)
		}
	}
	return tx.put(tSeenCounts, src, be64(uint64(kept)))
}
