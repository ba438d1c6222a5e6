package localstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/storage"
)

// ChangePassphrase re-encrypts the whole profile under newPassphrase, with
// a fresh salt and DefaultParams, in one transaction: afterwards only
// newPassphrase opens it, and a crash leaves either the old profile or the
// new one. It fails with ErrWrongPassphrase if oldPassphrase is not the
// current one. Other Stores open on the profile get ErrStale from then on.
func (s *Store) ChangePassphrase(ctx context.Context, oldPassphrase, newPassphrase []byte) error {
	nk := Passphrase(newPassphrase)
	nk.params = s.kdf
	return s.ChangeKey(ctx, Passphrase(oldPassphrase), nk)
}

// ChangeKey is ChangePassphrase for any kinds of key: a profile locked by
// a passphrase can move to an application key and back.
func (s *Store) ChangeKey(ctx context.Context, oldKey, newKey Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.k == nil {
		return ErrClosed
	}
	var nk *keys
	err := s.b.Update(ctx, func(btx storage.Tx) error {
		m, ok, err := storage.ReadMeta(btx)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if !ok || !bytes.Equal(m.Verifier, s.k.verifier) {
			return ErrStale
		}
		check, err := unlock(oldKey, m)
		if err != nil {
			return err
		}
		check.wipe()
		var nm *storage.Meta
		if nk, nm, err = newKeys(newKey); err != nil {
			return err
		}
		tx := &Tx{tx: btx, k: s.k, keepSeen: s.keepSeen}
		if err := tx.rekeyAll(nk); err != nil {
			return err
		}
		return storage.WriteMeta(btx, nm)
	})
	if err != nil {
		if nk != nil {
			nk.wipe()
		}
		return err
	}
	s.k.wipe()
	s.k = nk
	// Best effort: the values sealed under the old key were overwritten;
	// a backend that keeps remains of them (a WAL) erases them now.
	if sc, ok := s.b.(storage.Scrubber); ok {
		sc.Scrub(ctx)
	}
	return nil
}

// rekeyAll re-seals every row under nk, with its row key re-blinded.
func (tx *Tx) rekeyAll(nk *keys) error {
	old := tx.k
	for _, t := range []struct {
		name    string
		nfields int
		blinded func(f [][]byte) ([]byte, error)
	}{
		{tSecrets, 2, func(f [][]byte) ([]byte, error) { return f[0], nil }},
		{tContacts, 2, func(f [][]byte) ([]byte, error) { return f[0], nil }},
		{tSessions, 3, func(f [][]byte) ([]byte, error) {
			if len(f[1]) != 4 {
				return nil, fmt.Errorf("%w: malformed session device", ErrCorrupt)
			}
			return append(slices.Clone(f[1]), f[0]...), nil
		}},
	} {
		err := tx.rekeyTable(t.name, func(k, v []byte) ([]byte, []byte, error) {
			pt, err := old.open(v, t.name, k)
			if err != nil {
				return nil, nil, err
			}
			defer clear(pt)
			f, err := decodeFields(pt, t.nfields)
			if err != nil {
				return nil, nil, err
			}
			name, err := t.blinded(f)
			if err != nil {
				return nil, nil, err
			}
			nk2 := nk.blind(t.name, name)
			return nk2, nk.seal(pt, t.name, nk2), nil
		})
		if err != nil {
			return err
		}
	}
	if err := tx.rekeyMessages(nk); err != nil {
		return err
	}
	if err := tx.rekeySeen(nk); err != nil {
		return err
	}
	return tx.rekeyTable(tOutbox, func(k, v []byte) ([]byte, []byte, error) {
		pt, err := old.open(v, tOutbox, k)
		if err != nil {
			return nil, nil, err
		}
		defer clear(pt)
		return k, nk.seal(pt, tOutbox, k), nil
	})
}

// rekeyBatch bounds the rows held in memory while re-keying.
const rekeyBatch = 256

// rekeyTable replaces every row (k, v) of table by fn(k, v), a batch at a
// time. New keys land anywhere in the table, so rows already re-keyed are
// remembered and skipped.
func (tx *Tx) rekeyTable(table string, fn func(k, v []byte) (nk, nv []byte, err error)) error {
	done := map[string]bool{}
	var from []byte
	for {
		type row struct{ k, v []byte }
		var batch []row
		err := tx.scan(table, from, nil, false, func(k, v []byte) error {
			if done[string(k)] {
				return nil
			}
			batch = append(batch, row{slices.Clone(k), slices.Clone(v)})
			if len(batch) == rekeyBatch {
				return errStop
			}
			return nil
		})
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, r := range batch {
			nk, nv, err := fn(r.k, r.v)
			if err != nil {
				return err
			}
			if !bytes.Equal(nk, r.k) {
				if err := tx.del(table, r.k); err != nil {
					return err
				}
			}
			if err := tx.put(table, nk, nv); err != nil {
				return err
			}
			done[string(nk)] = true
		}
		from = append(batch[len(batch)-1].k, 0) // the next key after it
	}
}

// rekeyMessages re-seals every message under nk, re-blinding its
// conversation and id and moving its index entries along; sequence
// numbers, and so history order, stay.
func (tx *Tx) rekeyMessages(nk *keys) error {
	old := tx.k
	return tx.rekeyTable(tMessages, func(k, v []byte) ([]byte, []byte, error) {
		conv, mid, seq, err := splitMsgRow(k)
		if err != nil {
			return nil, nil, err
		}
		pt, err := old.open(v, tMessages, msgAD(conv, mid, seq))
		if err != nil {
			return nil, nil, err
		}
		defer clear(pt)
		f, err := decodeFields(pt, 4)
		if err != nil {
			return nil, nil, err
		}
		nconv := nk.convKey(f[0])
		nmid := nk.msgKey(nconv, f[1])
		if err := tx.del(tMessageIDs, append(slices.Clone(conv), mid...)); err != nil {
			return nil, nil, err
		}
		if err := tx.put(tMessageIDs, append(slices.Clone(nconv), nmid...), be64(seq)); err != nil {
			return nil, nil, err
		}
		if _, ok, err := tx.get(tUnshown, be64(seq)); err != nil {
			return nil, nil, err
		} else if ok {
			if err := tx.put(tUnshown, be64(seq), append(slices.Clone(nconv), nmid...)); err != nil {
				return nil, nil, err
			}
		}
		return msgKeyRow(nconv, nmid, seq), nk.seal(pt, tMessages, msgAD(nconv, nmid, seq)), nil
	})
}

// rekeySeen re-blinds every source of the seen-set, moving its numbers
// and count to the new name.
func (tx *Tx) rekeySeen(nk *keys) error {
	old := tx.k
	return tx.rekeyTable(tSeen, func(src, v []byte) ([]byte, []byte, error) {
		pt, err := old.open(v, tSeen, src)
		if err != nil {
			return nil, nil, err
		}
		defer clear(pt)
		f, err := decodeFields(pt, 1)
		if err != nil {
			return nil, nil, err
		}
		nsrc := nk.blind(tSeen, f[0])
		if err := tx.moveSeen(src, nsrc); err != nil {
			return nil, nil, err
		}
		return nsrc, nk.seal(pt, tSeen, nsrc), nil
	})
}

func (tx *Tx) moveSeen(src, nsrc []byte) error {
	var seqs [][]byte
	if err := tx.scan(tSeenSeqs, src, storage.PrefixEnd(src), false, func(k, _ []byte) error {
		seqs = append(seqs, slices.Clone(k[len(src):]))
		return nil
	}); err != nil {
		return err
	}
	for _, s := range seqs {
		if err := tx.del(tSeenSeqs, append(slices.Clone(src), s...)); err != nil {
			return err
		}
		if err := tx.put(tSeenSeqs, append(slices.Clone(nsrc), s...), nil); err != nil {
			return err
		}
	}
	n, ok, err := tx.get(tSeenCounts, src)
	if err != nil {
		return err
	}
	if !ok {
		n = binary.BigEndian.AppendUint64(nil, uint64(len(seqs)))
	}
	n = slices.Clone(n)
	if err := tx.del(tSeenCounts, src); err != nil {
		return err
	}
	return tx.put(tSeenCounts, nsrc, n)
}
