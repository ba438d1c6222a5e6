// Package localstore is a hush client's profile on disk: one SQLite
// database in the profile directory holding the device's private keys,
// session states, contacts, message history and settings, all of it
// encrypted under a key derived from the user's passphrase.
//
//	s, err := localstore.Open(ctx, dir, passphrase)
//	err = s.Update(ctx, func(tx *localstore.Tx) error {
//		return tx.PutSession("alice", 1, state)
//	})
//
// # What is on disk
//
// The meta table is the only plaintext: the format version, the Argon2id
// salt and parameters, and a verifier (a fixed label sealed under the
// derived key) that tells a wrong passphrase from a right one without
// storing the key or any fast hash of the passphrase. Every other value is
// sealed with XChaCha20-Poly1305 under a random 24-byte nonce, with the
// table name and the row's key as associated data, so a value copied to
// another row or table fails to open (ErrCorrupt) instead of being read
// as that row's. Rows are found by blinded keys, HMAC-SHA256 under a key
// only the passphrase yields, so usernames, conversation names, message
// ids and setting names never appear in the file either. What the file
// does show: how many rows each table has and their sizes, the number of
// messages per (blinded) conversation and their order, and the relay
// sequence numbers marked seen. Message times are sealed with the record.
//
//	master  = Argon2id(passphrase, salt, params)          32 bytes
//	enc     = HKDF-SHA256(master, info "hush localstore v1 encryption")
//	index   = HKDF-SHA256(master, info "hush localstore v1 index")
//	blind   = HMAC-SHA256(index, table || 0x00 || name)
//	value   = nonce || XChaCha20-Poly1305(enc, nonce, plaintext, table || 0x00 || row key)
//
// Each sealed plaintext carries the names its row key was derived from, so
// ChangePassphrase can re-derive every blinded key under a new salt. The
// Argon2id parameters are stored per profile: raising DefaultParams
// strengthens profiles as their passphrase changes, and old profiles keep
// opening.
//
// Deleted and overwritten values are zeroed in the database file
// (secure_delete) and the WAL is truncated as checkpoints empty it, so a
// session state that was replaced cannot be recovered from free pages by
// someone who later learns the passphrase. The store does not hide that
// the file exists, resist an attacker who can write to it while it is
// open, or stop a rollback to an older copy of the whole file.
//
// # Durability and concurrency
//
// SQLite runs in WAL mode with synchronous=FULL: when Update returns nil,
// everything fn wrote is on disk; when it returns an error, none of it is.
// Writes of this process queue on one connection (BEGIN IMMEDIATE); View
// reads a consistent snapshot from a pool of read-only connections that
// WAL lets run beside the writer. Other processes may open the same
// profile; SQLite's locks (with a busy timeout) serialize their writes,
// and a Store whose passphrase another process changed refuses further
// transactions with ErrStale. A Store is safe for concurrent use; a Tx is
// valid only inside the function it was given to.
package localstore
