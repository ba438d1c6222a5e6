package localstore

import (
	"encoding/binary"
	"fmt"
)

// The outbox holds what the client encrypted but the relay has not yet
// accepted: outbox seq → sealed record, seq 8 bytes big-endian in the
// order the records were queued. The sealed value's associated data is
// the table name and that number, so a row moved to another place fails
// to open.

// OutboxRow is one queued record.
type OutboxRow struct {
	Seq    int64
	Record []byte
}

// AddOutbox queues record after everything queued so far and returns its
// sequence number. The last number is looked up once per transaction (a
// page of received messages may queue an offer per peer device).
func (tx *Tx) AddOutbox(record []byte) (int64, error) {
	if err := tx.writable(); err != nil {
		return 0, err
	}
	if tx.lastOutbox == 0 {
		err := tx.scan(tOutbox, nil, nil, true, func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("%w: malformed outbox key", ErrCorrupt)
			}
			tx.lastOutbox = binary.BigEndian.Uint64(k)
			return errStop
		})
		if err != nil {
			return 0, err
		}
	}
	seq := tx.lastOutbox + 1
	if err := tx.put(tOutbox, be64(seq), tx.k.seal(record, tOutbox, be64(seq))); err != nil {
		return 0, err
	}
	tx.lastOutbox = seq
	return int64(seq), nil
}

// PutOutbox replaces the record queued under seq. ErrNotFound if it is
// no longer queued.
func (tx *Tx) PutOutbox(seq int64, record []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	k := be64(uint64(seq))
	if _, ok, err := tx.get(tOutbox, k); err != nil {
		return err
	} else if !ok {
		return ErrNotFound
	}
	return tx.put(tOutbox, k, tx.k.seal(record, tOutbox, k))
}

// DeleteOutbox removes the record queued under seq (a durable backend
// zeroes its bytes). Deleting what is not there is not an error.
func (tx *Tx) DeleteOutbox(seq int64) error {
	return tx.del(tOutbox, be64(uint64(seq)))
}

// Outbox returns every queued record, oldest first.
func (tx *Tx) Outbox() ([]OutboxRow, error) {
	var out []OutboxRow
	err := tx.scan(tOutbox, nil, nil, false, func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("%w: malformed outbox key", ErrCorrupt)
		}
		rec, err := tx.k.open(v, tOutbox, k)
		if err != nil {
			return err
		}
		out = append(out, OutboxRow{Seq: int64(binary.BigEndian.Uint64(k)), Record: rec})
		return nil
	})
	return out, err
}
