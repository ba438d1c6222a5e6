package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// usage is a mailbox's counters while a transaction changes them.
type usage struct {
	count, bytes int64
	dirty        bool
}

// AppendEnvelopes stores envelopes in one transaction (one fsync for the
// batch); see store.Mailboxes. A limit of zero or less is no limit. The
// sender accounting (senders.go) adds four statements per batch, whatever
// its size.
//
// The counters of every mailbox in the batch are read, and for PostgreSQL
// locked, in mailbox order before any envelope is inserted. Besides keeping
// the counters exact, the lock orders appends to one mailbox: a later
// transaction draws its sequence numbers only after the earlier one
// committed, so a reader paging with afterSeq never skips an envelope that
// commits late with a lower Seq.
func (db *DB) AppendEnvelopes(ctx context.Context, envs []store.NewEnvelope, lim store.MailboxLimits) ([]store.AppendResult, error) {
	res := make([]store.AppendResult, len(envs))
	if len(envs) == 0 {
		return res, nil
	}
	names := make([]string, 0, len(envs))
	for _, e := range envs {
		names = append(names, e.Mailbox)
	}
	names = dedupe(names)
	slices.Sort(names)
	err := db.write(ctx, func(t tx) error {
		clear(res)
		use, err := db.lockMailboxes(ctx, t, names)
		if err != nil {
			return err
		}
		ch, err := db.loadCharges(ctx, t, envs, use)
		if err != nil {
			return err
		}
		var accepted []int
		for i, e := range envs {
			u := use[e.Mailbox]
			size := int64(len(e.Data))
			share, acct := ch.shares[shareKey{e.Mailbox, e.Sender}], ch.accounts[e.Sender]
			switch {
			case u == nil:
				res[i].Err = store.ErrNotFound
			case u.over(size, lim.MaxCount, lim.MaxBytes):
				res[i].Err = store.ErrMailboxFull
			case share != nil && share.over(size, lim.SenderMaxCount, lim.SenderMaxBytes):
				res[i].Err = store.ErrShareFull
			case acct != nil && acct.over(size, lim.AccountMaxCount, lim.AccountMaxBytes):
				res[i].Err = store.ErrAccountFull
			default:
				u.add(1, size)
				if share != nil {
					share.add(1, size)
					acct.add(1, size)
				}
				accepted = append(accepted, i)
			}
		}
		if err := db.insertEnvelopes(ctx, t, envs, accepted, res); err != nil {
			return err
		}
		if err := db.saveCharges(ctx, t, ch); err != nil {
			return err
		}
		return db.saveUsage(ctx, t, use)
	})
	if err != nil {
		return nil, dbErr("append envelopes", err)
	}
	return res, nil
}

// insertEnvelopes inserts envs[i] for each i in accepted, in order, and
// sets res[i].Seq.
func (db *DB) insertEnvelopes(ctx context.Context, t tx, envs []store.NewEnvelope, accepted []int, res []store.AppendResult) error {
	if len(accepted) == 0 {
		return nil
	}
	stored := db.now().UnixMilli()
	if db.dialect == DialectPostgres {
		return db.insertEnvelopesPostgres(ctx, t, envs, accepted, res, stored)
	}
	// In-process SQLite: a prepared statement per row costs little.
	ins, err := t.tx.PrepareContext(ctx, "INSERT INTO envelopes (mailbox, sender, data, size, stored_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, i := range accepted {
		e := envs[i]
		r, err := ins.ExecContext(ctx, e.Mailbox, e.Sender, nonNil(e.Data), len(e.Data), stored, expiryMS(e.ExpiresAt))
		if err != nil {
			return err
		}
		if res[i].Seq, err = r.LastInsertId(); err != nil {
			return err
		}
	}
	return nil
}

// envelopeRows bounds the rows of one multi-row INSERT (7 parameters
// each, far below PostgreSQL's 65535).
const envelopeRows = 500

// insertEnvelopesPostgres saves round trips: it draws every sequence
// number in one query, then inserts the rows with them in multi-row
// INSERTs, so each envelope's seq is known without relying on the order
// of RETURNING rows.
func (db *DB) insertEnvelopesPostgres(ctx context.Context, t tx, envs []store.NewEnvelope, accepted []int, res []store.AppendResult, stored int64) error {
	rows, err := t.query(ctx, "SELECT nextval(pg_get_serial_sequence('envelopes', 'seq')) FROM generate_series(1, ?)", len(accepted))
	if err != nil {
		return err
	}
	seqs := make([]int64, 0, len(accepted))
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		seqs = append(seqs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(seqs) != len(accepted) {
		return fmt.Errorf("drew %d sequence numbers for %d envelopes", len(seqs), len(accepted))
	}
	slices.Sort(seqs)
	for j, i := range accepted {
		res[i].Seq = seqs[j]
	}
	for start := 0; start < len(accepted); start += envelopeRows {
		part := accepted[start:min(start+envelopeRows, len(accepted))]
		args := make([]any, 0, 7*len(part))
		for _, i := range part {
			e := envs[i]
			args = append(args, res[i].Seq, e.Mailbox, e.Sender, nonNil(e.Data), len(e.Data), stored, expiryMS(e.ExpiresAt))
		}
		q := "INSERT INTO envelopes (seq, mailbox, sender, data, size, stored_at, expires_at) OVERRIDING SYSTEM VALUE VALUES " +
			rowsOf(7, len(part))
		if _, err := t.exec(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// lockMailboxes reads the counters of the named mailboxes (sorted, so
// PostgreSQL locks them in the same order in every transaction and two
// batches cannot deadlock). Unknown mailboxes are absent from the map.
func (db *DB) lockMailboxes(ctx context.Context, t tx, sorted []string) (map[string]*usage, error) {
	use := make(map[string]*usage, len(sorted))
	err := inChunks(sorted, func(batch []string) error {
		rows, err := t.queryP(ctx, "SELECT mailbox, count, bytes FROM mailboxes WHERE mailbox IN ("+
			placeholders(len(batch))+") ORDER BY mailbox"+db.forUpdate(), anys(batch)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var u usage
			if err := rows.Scan(&name, &u.count, &u.bytes); err != nil {
				return err
			}
			use[name] = &u
		}
		return rows.Err()
	})
	return use, err
}

// saveUsage writes back the counters that changed, in one statement per
// maxInList mailboxes.
func (db *DB) saveUsage(ctx context.Context, t tx, use map[string]*usage) error {
	var names []string
	for name, u := range use {
		if u.dirty {
			names = append(names, name)
		}
	}
	return inChunks(names, func(batch []string) error {
		args := make([]any, 0, 3*len(batch))
		for _, name := range batch {
			args = append(args, name, use[name].count, use[name].bytes)
		}
		// VALUES columns are column1, column2, … in both dialects.
		_, err := t.execP(ctx, "UPDATE mailboxes SET count = v.column2, bytes = v.column3 FROM (VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, CAST(? AS BIGINT), CAST(? AS BIGINT)), ", len(batch)), ", ")+
			") AS v WHERE mailboxes.mailbox = v.column1", args...)
		return err
	})
}

// PendingEnvelopes returns up to limit (≥ 1) envelopes of mailbox with
// Seq > afterSeq, in Seq order.
func (db *DB) PendingEnvelopes(ctx context.Context, mailbox string, afterSeq int64, limit int) ([]store.Envelope, error) {
	return db.PendingPage(ctx, mailbox, afterSeq, limit, 0)
}

// PendingPage is PendingEnvelopes that stops reading rows once the
// envelopes read hold maxBytes bytes or more, the one that reaches it
// included (maxBytes 0: no byte limit).
func (db *DB) PendingPage(ctx context.Context, mailbox string, afterSeq int64, limit, maxBytes int) ([]store.Envelope, error) {
	if limit < 1 || maxBytes < 0 {
		return nil, fmt.Errorf("%w: limit %d, %d bytes", ErrInvalid, limit, maxBytes)
	}
	rows, err := db.query(ctx, "SELECT seq, data, stored_at FROM envelopes WHERE mailbox = ? AND seq > ? ORDER BY seq LIMIT ?",
		mailbox, afterSeq, limit)
	if err != nil {
		return nil, dbErr("pending envelopes", err)
	}
	defer rows.Close()
	var out []store.Envelope
	size := 0
	for rows.Next() {
		e := store.Envelope{Mailbox: mailbox}
		var stored int64
		if err := rows.Scan(&e.Seq, &e.Data, &stored); err != nil {
			return nil, dbErr("pending envelopes", err)
		}
		e.StoredAt = fromMS(stored)
		out = append(out, e)
		if size += len(e.Data); maxBytes > 0 && size >= maxBytes {
			break // rows.Close ends the query without reading the rest
		}
	}
	return out, dbErr("pending envelopes", rows.Err())
}

// AckEnvelopes deletes the listed envelopes of mailbox and returns how
// many it deleted. The mailbox is part of the DELETE's condition: a
// device acknowledging another mailbox's sequence numbers deletes
// nothing.
func (db *DB) AckEnvelopes(ctx context.Context, mailbox string, seqs []int64) (int64, error) {
	seqs = dedupe(seqs)
	if len(seqs) == 0 {
		return 0, nil
	}
	var deleted int64
	err := db.write(ctx, func(t tx) error {
		deleted = 0
		use, err := db.lockMailboxes(ctx, t, []string{mailbox})
		if err != nil || use[mailbox] == nil {
			return err
		}
		u := use[mailbox]
		freed := map[shareKey]*usage{}
		err = inChunks(seqs, func(batch []int64) error {
			rows, err := t.queryP(ctx, "DELETE FROM envelopes WHERE mailbox = ? AND seq IN ("+placeholders(len(batch))+") RETURNING size, sender",
				anys(batch, mailbox)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var size int64
				var sender string
				if err := rows.Scan(&size, &sender); err != nil {
					return err
				}
				u.add(-1, -size)
				free(freed, mailbox, sender, size)
				deleted++
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		if err := db.releaseCharges(ctx, t, freed); err != nil {
			return err
		}
		return db.saveUsage(ctx, t, use)
	})
	if err != nil {
		return 0, dbErr("ack envelopes", err)
	}
	return deleted, nil
}

// MailboxUsage returns the number and total size of stored envelopes, or
// ErrNotFound for a mailbox no device owns.
func (db *DB) MailboxUsage(ctx context.Context, mailbox string) (count, bytes int64, err error) {
	err = db.queryRow(ctx, "SELECT count, bytes FROM mailboxes WHERE mailbox = ?", mailbox).Scan(&count, &bytes)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, store.ErrNotFound
	}
	return count, bytes, dbErr("mailbox usage", err)
}

// expireBatch bounds the envelopes one ExpireEnvelopes transaction
// deletes, so a large sweep does not hold SQLite's writer for long.
const expireBatch = 5000

// ExpireEnvelopes deletes envelopes whose ExpiresAt is before now, in
// batches of their own transactions, and returns how many it deleted.
func (db *DB) ExpireEnvelopes(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		n, err := db.expireEnvelopes(ctx, now.UnixMilli())
		total += n
		if err != nil || n < expireBatch {
			return total, err
		}
	}
}

func (db *DB) expireEnvelopes(ctx context.Context, now int64) (int64, error) {
	var deleted int64
	err := db.write(ctx, func(t tx) error {
		deleted = 0
		// Find the mailboxes first and lock them in order, as appends do.
		rows, err := t.query(ctx, "SELECT DISTINCT mailbox FROM (SELECT mailbox FROM envelopes WHERE expires_at < ? ORDER BY seq LIMIT ?) e",
			now, expireBatch)
		if err != nil {
			return err
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			names = append(names, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(names) == 0 {
			return err
		}
		slices.Sort(names)
		use, err := db.lockMailboxes(ctx, t, names)
		if err != nil {
			return err
		}
		freed := map[shareKey]*usage{}
		err = inChunks(names, func(batch []string) error {
			drows, err := t.query(ctx, "DELETE FROM envelopes WHERE seq IN (SELECT seq FROM envelopes WHERE expires_at < ? AND mailbox IN ("+
				placeholders(len(batch))+") ORDER BY seq LIMIT ?) RETURNING mailbox, size, sender",
				append(anys(batch, now), expireBatch)...)
			if err != nil {
				return err
			}
			defer drows.Close()
			for drows.Next() {
				var name, sender string
				var size int64
				if err := drows.Scan(&name, &size, &sender); err != nil {
					return err
				}
				if u := use[name]; u != nil {
					u.add(-1, -size)
				}
				free(freed, name, sender, size)
				deleted++
			}
			return drows.Err()
		})
		if err != nil {
			return err
		}
		if err := db.releaseCharges(ctx, t, freed); err != nil {
			return err
		}
		return db.saveUsage(ctx, t, use)
	})
	if err != nil {
		return 0, dbErr("expire envelopes", err)
	}
	return deleted, nil
}
