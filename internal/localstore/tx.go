package localstore

import (
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/storage"
)

// Table names; they also label blinded keys and associated data.
const (
	tSecrets       = "secrets"
	tContacts      = "contacts"
	tSessions      = "sessions"
	tMessages      = "messages"
	tMessageIDs    = "message_ids"   // conv || id → seq
	tUnshown       = "unshown"       // seq → conv || id
	tCounters      = "counters"      // "messages" → last message seq
	tConversations = "conversations" // blinds conversation names (no table)
	tSeen          = "seen_sources"  // src → sealed source name
	tSeenCounts    = "seen_counts"   // src → how many numbers seen holds
	tSeenSeqs      = "seen"          // src || seq → empty
	tOutbox        = "outbox"        // seq → sealed record
)

// Tx is a transaction of Update or View. It is valid only inside the
// function it was passed to. Values it returns are the caller's.
type Tx struct {
	tx         storage.Tx
	k          *keys
	keepSeen   int
	readOnly   bool
	done       bool
	after      *[]func() // run after a successful commit (AfterCommit)
	lastSeq    uint64    // the message counter as this transaction left it; 0: not read yet
	lastOutbox uint64    // the last outbox number, as lastSeq
}

// AfterCommit arranges for f to run once the transaction has committed,
// after Update's fn returned nil and the writes are durable; never if it
// rolls back. It keeps in-memory indexes of stored state in step with
// what is stored. f runs on Update's goroutine, outside the transaction.
func (tx *Tx) AfterCommit(f func()) {
	if tx.after != nil {
		*tx.after = append(*tx.after, f)
	}
}

func (tx *Tx) usable() error {
	if tx.done {
		return storage.ErrTxDone
	}
	return nil
}

func (tx *Tx) writable() error {
	if tx.readOnly {
		return errReadOnly
	}
	return tx.usable()
}

func (tx *Tx) get(table string, k []byte) ([]byte, bool, error) {
	if err := tx.usable(); err != nil {
		return nil, false, err
	}
	v, ok, err := tx.tx.Get(table, k)
	if err != nil {
		return nil, false, fmt.Errorf("localstore: read %s: %w", table, err)
	}
	return v, ok, nil
}

func (tx *Tx) put(table string, k, v []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	if err := tx.tx.Put(table, k, v); err != nil {
		return fmt.Errorf("localstore: write %s: %w", table, err)
	}
	return nil
}

func (tx *Tx) del(table string, k []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	if err := tx.tx.Delete(table, k); err != nil {
		return fmt.Errorf("localstore: delete %s: %w", table, err)
	}
	return nil
}

func (tx *Tx) scan(table string, from, to []byte, reverse bool, fn func(k, v []byte) error) error {
	if err := tx.usable(); err != nil {
		return err
	}
	var fnErr error
	err := tx.tx.Scan(table, from, to, reverse, func(k, v []byte) error {
		fnErr = fn(k, v)
		return fnErr
	})
	switch {
	case err == nil || errors.Is(err, errStop):
		return nil
	case err == fnErr:
		return err
	default:
		return fmt.Errorf("localstore: read %s: %w", table, err)
	}
}

// errStop ends a scan early; scan swallows it.
var errStop = errors.New("stop")

// putKV stores fields sealed under the blinded key k of a key-value table.
func (tx *Tx) putKV(table string, k []byte, fields ...[]byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	pt := encodeFields(fields...)
	defer clear(pt)
	return tx.put(table, k, tx.k.seal(pt, table, k))
}

// getKV opens the value under the blinded key k and returns its n fields.
func (tx *Tx) getKV(table string, k []byte, n int) ([][]byte, error) {
	v, ok, err := tx.get(table, k)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	pt, err := tx.k.open(v, table, k)
	if err != nil {
		return nil, err
	}
	return decodeFields(pt, n)
}

// PutSecret stores value under name (identity seed, device keys, keyring,
// settings), replacing what was there.
func (tx *Tx) PutSecret(name string, value []byte) error {
	return tx.putKV(tSecrets, tx.k.blind(tSecrets, []byte(name)), []byte(name), value)
}

// GetSecret returns the value stored under name, or ErrNotFound.
func (tx *Tx) GetSecret(name string) ([]byte, error) {
	f, err := tx.getKV(tSecrets, tx.k.blind(tSecrets, []byte(name)), 2)
	if err != nil {
		return nil, err
	}
	return f[1], nil
}

// PutContact stores the record of username, replacing what was there.
func (tx *Tx) PutContact(username string, record []byte) error {
	return tx.putKV(tContacts, tx.k.blind(tContacts, []byte(username)), []byte(username), record)
}

// GetContact returns the record of username, or ErrNotFound.
func (tx *Tx) GetContact(username string) ([]byte, error) {
	f, err := tx.getKV(tContacts, tx.k.blind(tContacts, []byte(username)), 2)
	if err != nil {
		return nil, err
	}
	return f[1], nil
}

// ListContacts returns every contact record, in no particular order.
func (tx *Tx) ListContacts() ([][]byte, error) {
	var out [][]byte
	err := tx.scan(tContacts, nil, nil, false, func(k, v []byte) error {
		pt, err := tx.k.open(v, tContacts, k)
		if err != nil {
			return err
		}
		f, err := decodeFields(pt, 2)
		if err != nil {
			return err
		}
		out = append(out, f[1])
		return nil
	})
	return out, err
}

// sessionName is what a session's row key is blinded from: the device
// first, fixed-length, so no (username, device) pair shares it with another.
func sessionName(username string, device uint32) []byte {
	return append(be32(device), username...)
}

// PutSession stores the session state with device of username.
func (tx *Tx) PutSession(username string, device uint32, state []byte) error {
	k := tx.k.blind(tSessions, sessionName(username, device))
	return tx.putKV(tSessions, k, []byte(username), be32(device), state)
}

// GetSession returns the session state with device of username, or
// ErrNotFound.
func (tx *Tx) GetSession(username string, device uint32) ([]byte, error) {
	f, err := tx.getKV(tSessions, tx.k.blind(tSessions, sessionName(username, device)), 3)
	if err != nil {
		return nil, err
	}
	return f[2], nil
}

// DeleteSession removes the session with device of username (a durable
// backend zeroes its bytes). Deleting a session that does not exist is
// not an error.
func (tx *Tx) DeleteSession(username string, device uint32) error {
	return tx.del(tSessions, tx.k.blind(tSessions, sessionName(username, device)))
}
