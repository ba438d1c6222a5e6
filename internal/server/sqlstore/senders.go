package sqlstore

import (
	"context"
	"slices"
	"strings"

	"github.com/hush-chat/hush/internal/server/store"
)

// Sender accounting (doc/API.md §4.1). Every envelope records the account
// that sent it; mailbox_senders holds what each sender's pending envelopes
// hold in each mailbox, account_usage what each account's hold across all
// mailboxes. Both change in the transaction that appends, acknowledges or
// expires the envelopes, after that transaction has locked the mailboxes
// (lockMailboxes): a mailbox_senders row is only ever changed under its
// mailbox's lock and needs none of its own. account_usage rows are shared
// by every mailbox an account writes to; they are locked after the
// mailboxes, in account order, so two transactions cannot deadlock on
// them. A mailbox deleted with its device releases its senders' charges by
// trigger (migration 0005).

// shareKey names one sender's share of one mailbox.
type shareKey struct{ mailbox, sender string }

// charges is the sender accounting an append reads, checks and writes
// back.
type charges struct {
	shares   map[shareKey]*usage
	accounts map[string]*usage
}

// over reports whether adding one envelope of size bytes passes a limit
// (zero or less: none).
func (u *usage) over(size, maxCount, maxBytes int64) bool {
	return maxCount > 0 && u.count+1 > maxCount || maxBytes > 0 && u.bytes+size > maxBytes
}

func (u *usage) add(count, size int64) {
	u.count += count
	u.bytes += size
	u.dirty = true
}

// loadCharges reads the counters of the senders of envs (those with a
// sender, to an existing mailbox), locking their account rows.
func (db *DB) loadCharges(ctx context.Context, t tx, envs []store.NewEnvelope, use map[string]*usage) (*charges, error) {
	c := &charges{shares: map[shareKey]*usage{}, accounts: map[string]*usage{}}
	var senders, mailboxes []string
	for _, e := range envs {
		if e.Sender == "" || use[e.Mailbox] == nil {
			continue
		}
		k := shareKey{e.Mailbox, e.Sender}
		if c.shares[k] == nil {
			c.shares[k] = &usage{}
			senders, mailboxes = append(senders, e.Sender), append(mailboxes, e.Mailbox)
		}
	}
	if len(senders) == 0 {
		return c, nil
	}
	senders, mailboxes = dedupe(senders), dedupe(mailboxes)
	slices.Sort(senders)
	if err := db.lockAccounts(ctx, t, senders, c.accounts); err != nil {
		return nil, err
	}
	return c, db.readShares(ctx, t, mailboxes, senders, c.shares)
}

// lockAccounts reads (and, for PostgreSQL, locks) the account_usage rows
// of sorted; an account without a row counts zero.
func (db *DB) lockAccounts(ctx context.Context, t tx, sorted []string, into map[string]*usage) error {
	for _, name := range sorted {
		into[name] = &usage{}
	}
	return inChunks(sorted, func(batch []string) error {
		q := "SELECT account, count, bytes FROM account_usage WHERE account IN (" + placeholders(len(batch)) + ")"
		if db.dialect == DialectPostgres {
			// A missing row cannot be locked: a no-op upsert creates it and
			// locks every row, in account order.
			q = "INSERT INTO account_usage (account) VALUES " + rowsOf(1, len(batch)) +
				" ON CONFLICT (account) DO UPDATE SET count = account_usage.count RETURNING account, count, bytes"
		}
		rows, err := t.queryP(ctx, q, anys(batch)...)
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
			into[name] = &u
		}
		return rows.Err()
	})
}

// readShares fills the counters of the keys already in into that have a
// row (the others stay zero). It asks for every pair of the given
// mailboxes and senders and keeps those it was asked for.
func (db *DB) readShares(ctx context.Context, t tx, mailboxes, senders []string, into map[shareKey]*usage) error {
	const half = maxInList / 2
	for m := 0; m < len(mailboxes); m += half {
		mb := mailboxes[m:min(m+half, len(mailboxes))]
		for s := 0; s < len(senders); s += half {
			sb := senders[s:min(s+half, len(senders))]
			rows, err := t.queryP(ctx, "SELECT mailbox, sender, count, bytes FROM mailbox_senders WHERE mailbox IN ("+
				placeholders(len(mb))+") AND sender IN ("+placeholders(len(sb))+")", append(anys(mb), anys(sb)...)...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var k shareKey
				var count, bytes int64
				if err := rows.Scan(&k.mailbox, &k.sender, &count, &bytes); err != nil {
					rows.Close()
					return err
				}
				if u := into[k]; u != nil {
					u.count, u.bytes = count, bytes
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// saveCharges writes back the counters an append changed.
func (db *DB) saveCharges(ctx context.Context, t tx, c *charges) error {
	var keys []shareKey
	for k, u := range c.shares {
		if u.dirty {
			keys = append(keys, k)
		}
	}
	err := chunked(keys, maxInList/4, func(batch []shareKey) error {
		args := make([]any, 0, 4*len(batch))
		for _, k := range batch {
			u := c.shares[k]
			args = append(args, k.mailbox, k.sender, u.count, u.bytes)
		}
		_, err := t.execP(ctx, "INSERT INTO mailbox_senders (mailbox, sender, count, bytes) VALUES "+rowsOf(4, len(batch))+
			" ON CONFLICT (mailbox, sender) DO UPDATE SET count = excluded.count, bytes = excluded.bytes", args...)
		return err
	})
	if err != nil {
		return err
	}
	var names []string
	for name, u := range c.accounts {
		if u.dirty {
			names = append(names, name)
		}
	}
	return chunked(names, maxInList/3, func(batch []string) error {
		args := make([]any, 0, 3*len(batch))
		for _, name := range batch {
			args = append(args, name, c.accounts[name].count, c.accounts[name].bytes)
		}
		_, err := t.execP(ctx, "INSERT INTO account_usage (account, count, bytes) VALUES "+rowsOf(3, len(batch))+
			" ON CONFLICT (account) DO UPDATE SET count = excluded.count, bytes = excluded.bytes", args...)
		return err
	})
}

// releaseCharges subtracts what deleted envelopes held (per mailbox and
// sender, "" already left out) from their senders' shares and accounts,
// and drops the shares that became empty.
func (db *DB) releaseCharges(ctx context.Context, t tx, freed map[shareKey]*usage) error {
	if len(freed) == 0 {
		return nil
	}
	accounts := map[string]*usage{}
	var mailboxes []string
	for k, u := range freed {
		a := accounts[k.sender]
		if a == nil {
			a = &usage{}
			accounts[k.sender] = a
		}
		a.add(u.count, u.bytes)
		mailboxes = append(mailboxes, k.mailbox)
	}
	keys := make([]shareKey, 0, len(freed))
	for k := range freed {
		keys = append(keys, k)
	}
	err := chunked(keys, maxInList/4, func(batch []shareKey) error {
		args := make([]any, 0, 4*len(batch))
		for _, k := range batch {
			args = append(args, k.mailbox, k.sender, freed[k].count, freed[k].bytes)
		}
		_, err := t.execP(ctx, "UPDATE mailbox_senders SET count = mailbox_senders.count - v.column3, bytes = mailbox_senders.bytes - v.column4 FROM (VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT)), ", len(batch)), ", ")+
			") AS v WHERE mailbox_senders.mailbox = v.column1 AND mailbox_senders.sender = v.column2", args...)
		return err
	})
	if err != nil {
		return err
	}
	err = inChunks(dedupe(mailboxes), func(batch []string) error {
		_, err := t.execP(ctx, "DELETE FROM mailbox_senders WHERE mailbox IN ("+placeholders(len(batch))+") AND count <= 0", anys(batch)...)
		return err
	})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(accounts))
	for name := range accounts {
		names = append(names, name)
	}
	slices.Sort(names)
	if db.dialect == DialectPostgres {
		// In account order, as appends lock them.
		err := inChunks(names, func(batch []string) error {
			rows, err := t.query(ctx, "SELECT account FROM account_usage WHERE account IN ("+placeholders(len(batch))+
				") ORDER BY account FOR UPDATE", anys(batch)...)
			if err != nil {
				return err
			}
			return rows.Close()
		})
		if err != nil {
			return err
		}
	}
	return chunked(names, maxInList/3, func(batch []string) error {
		args := make([]any, 0, 3*len(batch))
		for _, name := range batch {
			args = append(args, name, accounts[name].count, accounts[name].bytes)
		}
		_, err := t.execP(ctx, "UPDATE account_usage SET count = account_usage.count - v.column2, bytes = account_usage.bytes - v.column3 FROM (VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, CAST(? AS BIGINT), CAST(? AS BIGINT)), ", len(batch)), ", ")+
			") AS v WHERE account_usage.account = v.column1", args...)
		return err
	})
}

// free records a deleted envelope in a release.
func free(freed map[shareKey]*usage, mailbox, sender string, size int64) {
	if sender == "" {
		return // charged to nobody
	}
	k := shareKey{mailbox, sender}
	u := freed[k]
	if u == nil {
		u = &usage{}
		freed[k] = u
	}
	u.add(1, size)
}

// SenderUsage returns what sender's pending envelopes hold in mailbox.
func (db *DB) SenderUsage(ctx context.Context, mailbox, sender string) (count, bytes int64, err error) {
	return db.counters(ctx, "SELECT count, bytes FROM mailbox_senders WHERE mailbox = ? AND sender = ?", mailbox, sender)
}

// AccountUsage returns what account's pending envelopes hold across all
// mailboxes.
func (db *DB) AccountUsage(ctx context.Context, account string) (count, bytes int64, err error) {
	return db.counters(ctx, "SELECT count, bytes FROM account_usage WHERE account = ?", account)
}

func (db *DB) counters(ctx context.Context, query string, args ...any) (count, bytes int64, err error) {
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return 0, 0, dbErr("sender usage", err)
	}
	defer rows.Close()
	if rows.Next() {
		err = rows.Scan(&count, &bytes)
	}
	if err == nil {
		err = rows.Err()
	}
	return count, bytes, dbErr("sender usage", err)
}

// rowsOf returns n rows of k placeholders: "(?, ?), (?, ?)".
func rowsOf(k, n int) string {
	row := "(" + placeholders(k) + "), "
	return strings.TrimSuffix(strings.Repeat(row, n), ", ")
}

// chunked calls fn with consecutive slices of at most n items.
func chunked[T any](items []T, n int, fn func([]T) error) error {
	for len(items) > 0 {
		k := min(len(items), n)
		if err := fn(items[:k]); err != nil {
			return err
		}
		items = items[k:]
	}
	return nil
}
