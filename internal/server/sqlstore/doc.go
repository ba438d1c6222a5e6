// Package sqlstore implements store.Store over database/sql, in SQLite
// (modernc.org/sqlite, pure Go: the default, embedded in the server) and
// PostgreSQL (pgx: for several server instances sharing one database).
// Both run the same queries, written once with ? placeholders and
// rewritten to $n for PostgreSQL; they differ only in column types, row
// locks, how a batch of envelopes is inserted, and the migration files.
//
//	db, err := sqlstore.Open(ctx, "sqlite:///var/lib/hush/hush.db")
//	db, err := sqlstore.Open(ctx, "postgres://hush@db.example/hush", sqlstore.WithClock(clock))
//
// # Schema
//
// Migrations are embedded (migrations/<dialect>/NNNN_name.sql, the same
// steps for both dialects) and applied at Open in one transaction;
// schema_version records each applied version. A database whose version is
// newer than this build knows is refused with ErrSchemaTooNew. Server
// instances opening a new PostgreSQL database together serialize on an
// advisory transaction lock; SQLite ones on the write lock.
//
//	accounts          username → identity key, key version, state, e-mail while pending
//	key_history       every identity key an account had, with its validity
//	devices           (username, device id) → certificate, mailbox (unique)
//	prekeys           the signed and last-resort prekey of each device
//	one_time_prekeys  one-time prekeys, taken oldest first by an autoincrement id
//	tokens            SHA-256 hashes of single-use tokens, per account
//	sessions          SHA-256 hashes of bearer tokens, per device
//	mailboxes         one row per device mailbox: envelope count and bytes
//	envelopes         seq (autoincrement, never reused) → mailbox, sender account, ciphertext, size
//	mailbox_senders   (mailbox, sender account) → what that sender's envelopes hold there
//	account_usage     sender account → what its envelopes hold in all mailboxes
//	blobs             attachments: sizes, chunk count, chunks stored, fetches
//	blob_chunks       (blob, index) → SHA-256, and chunk bytes (PostgreSQL; SQLite: a file)
//
// Foreign keys with ON DELETE CASCADE do the clean-up: deleting a device
// removes its prekeys, sessions, mailbox and envelopes; purging an account
// removes everything it owns. A deleted account stays as a tombstone row
// (state deleted, identity key and key history kept) so its username stays
// bound. Mailbox and sender usage counters change in the same transaction
// as the envelopes, so AppendEnvelopes checks limits without counting rows.
//
// Times are stored as Unix milliseconds (and come back in UTC, to the
// millisecond). A zero ExpiresAt means never and is stored as
// math.MaxInt64. Something expires when its ExpiresAt is not after now:
// TakeToken and GetSession refuse it from that instant, the Expire methods
// delete what expired before now. Mailbox limits of zero or less mean no
// limit.
//
// # Durability and concurrency
//
// SQLite runs in WAL mode with synchronous=FULL, so each commit is fsynced
// before the call returns: an envelope AppendEnvelopes acknowledged
// survives kill -9 and power loss. All writes go through one pooled
// connection and begin with BEGIN IMMEDIATE, so writers of this process
// queue in Go instead of failing with SQLITE_BUSY, and each takes the write
// lock before reading what it will change; a busy timeout covers other
// processes. Reads use a separate pool of read-only (query_only)
// connections that WAL lets run alongside the writer. AppendEnvelopes
// stores a whole batch in one transaction, so one fsync covers many
// envelopes.
//
// A SQLite store keeps the bytes of blob chunks in files next to the
// database (<database file>-blobs/<hex of blob id>/<index>, 0700/0600),
// written once instead of into the WAL and again at checkpoint; their rows
// keep the SHA-256 that GetChunk checks each read against (a mismatch is
// ErrChunkCorrupt, never other bytes). A chunk file is fsynced and renamed
// into place before its row commits, and removed after its blob's row is
// deleted; directories a crash leaves behind are swept at Open and by
// ExpireBlobs. PostgreSQL keeps chunk bytes in the database, which every
// server instance sharing it can read.
//
// PostgreSQL transactions run at READ COMMITTED. Rows a transaction reads
// before changing them are locked (SELECT … FOR UPDATE, mailboxes always in
// name order, so batches cannot deadlock); one-time prekeys are taken with
// FOR UPDATE SKIP LOCKED; a transaction aborted as a deadlock victim or
// serialization failure is retried.
//
// Locking a mailbox's counters before drawing sequence numbers also
// orders appends to it: a reader paging with PendingEnvelopes(afterSeq)
// never skips an envelope committed late with a lower Seq.
//
// ErrInvalid marks arguments that break the store's invariants (an empty
// id, a prekey kind for the wrong list, a chunk of the wrong length);
// callers validate requests before the store sees them.
package sqlstore
