// Package localstore is the sealing layer of a hush client's profile: the
// device's private keys, session states, contacts, message history and
// settings, encrypted under a key derived from the user's passphrase (or
// an application's key) and handed, as opaque rows, to a storage.Backend
// (the SQLite profile of internal/sqlitestore, storage.Memory, or an
// application's own database). No backend ever sees a username, a message
// or a key: everything that needs sealing is sealed here, in one place.
//
//	s, err := localstore.Open(ctx, backend, localstore.Passphrase(p))
//	err = s.Update(ctx, func(tx *localstore.Tx) error {
//		return tx.PutSession("alice", 1, state)
//	})
//
// # What the backend holds
//
// The meta record (storage.Meta) is the only plaintext: the format
// version, the key derivation ("argon2id" with its salt and parameters, or
// "key" with its salt), and a verifier (a fixed label sealed under the
// derived key) that tells a wrong passphrase from a right one without
// storing the key or any fast hash of the passphrase. Every other value is
// sealed with XChaCha20-Poly1305 under a random 24-byte nonce, with the
// table name and the row's key as associated data, so a value copied to
// another row or table fails to open (ErrCorrupt) instead of being read
// as that row's. Rows are found by blinded keys, HMAC-SHA256 under a key
// only the passphrase yields, so usernames, conversation names, message
// ids and setting names never reach the backend either. What the backend
// does see: how many rows each table has and their sizes, the number of
// messages per (blinded) conversation and their order, how many are
// unshown, and the relay sequence numbers marked seen. Message times are
// sealed with the record.
//
//	master  = Argon2id(passphrase, salt, params)                       32 bytes
//	        | HKDF-SHA256(key, salt, info "hush localstore v1 application key")
//	enc     = HKDF-SHA256(master, info "hush localstore v1 encryption")
//	index   = HKDF-SHA256(master, info "hush localstore v1 index")
//	blind   = HMAC-SHA256(index, table || 0x00 || name)
//	value   = nonce || XChaCha20-Poly1305(enc, nonce, plaintext, table || 0x00 || row key)
//
// Tables of format 2 (row keys; conv, id, src are blinded, 32 bytes; seq
// is 8 bytes big-endian):
//
//	meta          "profile"              → storage.Meta (plaintext)
//	secrets       blind(name)            → sealed (name, value)
//	contacts      blind(username)        → sealed (username, record)
//	sessions      blind(device||user)    → sealed (username, device, state)
//	messages      conv || seq || id      → sealed (conversation, id, time, record), AD row key conv || id || seq
//	message_ids   conv || id             → seq
//	unshown       seq                    → conv || id
//	counters      "messages"             → last message seq
//	outbox        seq                    → sealed record
//	seen_sources  src                    → sealed (source)
//	seen_counts   src                    → count, 8 bytes
//	seen          src || seq XOR 1<<63   → empty
//
// Each sealed plaintext carries the names its row key was derived from, so
// ChangePassphrase (ChangeKey) can re-derive every blinded key under a
// new salt, in one backend transaction. The Argon2id parameters are
// stored per profile: raising DefaultParams strengthens profiles as their
// passphrase changes, and old profiles keep opening.
//
// The store does not hide that the profile exists, resist an attacker who
// can write to the backend while it is open, or stop a rollback to an
// older copy of the whole store.
//
// # Durability and concurrency
//
// Update is atomic, and durable when it returns nil if the backend is
// (the SQLite one is; storage.Memory is not). Writers are serialized by
// the backend; View reads a consistent snapshot. A Store whose passphrase
// another Store (in this or another process) changed refuses further
// transactions with ErrStale: every transaction checks the meta record's
// verifier. A Store is safe for concurrent use; a Tx is valid only inside
// the function it was given to.
package localstore
