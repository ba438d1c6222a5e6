package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/storage"
)

// Format 1 kept one SQL table per kind of row (secrets, contacts,
// sessions, messages, seen_sources, seen, outbox) and the meta record as
// columns of a table meta. upgrade converts such a profile to the kv
// table in one transaction, copying every sealed value unchanged under
// the key format 2 files it by (internal/localstore's layout):
//
//	secrets, contacts, sessions, seen_sources   same key
//	messages      conv || be64(seq) || id       (value unchanged)
//	message_ids   conv || id → be64(seq)
//	unshown       be64(seq) → conv || id        (rows with unshown = 1)
//	counters      "messages" → be64(max seq)
//	seen_counts   src → be64(n)
//	seen          src || be64(seq XOR 1<<63) → empty
//	outbox        be64(seq)                     (value unchanged)
//
// The associated data of a message value was conv || id || seq and stays
// so, which is why no key is needed. A crash during upgrade leaves the
// format 1 profile as it was.

// formatVersion is the Meta.Version the converted profile gets.
const formatVersion = 2

// upgrade converts a format 1 database, if w holds one.
func upgrade(ctx context.Context, w *sql.DB) error {
	stx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: begin: %w", err)
	}
	defer stx.Rollback()
	has := func(name string) (bool, error) {
		var n int
		err := stx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n)
		return n > 0, err
	}
	kv, err := has("kv")
	if err != nil {
		return fmt.Errorf("sqlitestore: read schema: %w", err)
	}
	v1, err := has("meta")
	if err != nil {
		return fmt.Errorf("sqlitestore: read schema: %w", err)
	}
	if kv || !v1 {
		return nil // current format (or not a profile: the layer above says so)
	}
	if err := convertV1(ctx, stx, has); err != nil {
		return fmt.Errorf("sqlitestore: converting the profile from format 1: %w", err)
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: converting the profile from format 1: %w", err)
	}
	return nil
}

func convertV1(ctx context.Context, stx *sql.Tx, has func(string) (bool, error)) error {
	var m storage.Meta
	var version int64
	var t, mem, th int64
	if err := stx.QueryRowContext(ctx, `SELECT version, kdf_salt, kdf_time, kdf_memory,
		kdf_threads, verifier FROM meta WHERE id = 1`).Scan(&version, &m.Salt, &t, &mem, &th, &m.Verifier); err != nil {
		return fmt.Errorf("read metadata: %w", err)
	}
	if version != 1 {
		return fmt.Errorf("profile format version %d is not supported (this build reads 1 and %d)", version, formatVersion)
	}
	if t < 0 || t > 1<<32-1 || mem < 0 || mem > 1<<32-1 || th < 0 || th > 255 {
		return fmt.Errorf("%w: Argon2id parameters out of range", storage.ErrBadMeta)
	}
	m.Version, m.KDF = formatVersion, storage.KDFArgon2id
	m.Time, m.Memory, m.Threads = uint32(t), uint32(mem), uint8(th)
	if _, err := stx.ExecContext(ctx, schema); err != nil {
		return err
	}
	out := &tx{ctx: ctx, tx: stx}
	if err := storage.WriteMeta(out, &m); err != nil {
		return err
	}
	for _, table := range []string{"secrets", "contacts", "sessions", "seen_sources"} {
		if _, err := stx.ExecContext(ctx, `INSERT INTO kv (t, k, v) SELECT ?, k, v FROM `+table, table); err != nil {
			return err
		}
	}
	if err := each(ctx, stx, `SELECT k, n FROM seen_sources`, func(r *sql.Rows) error {
		var k []byte
		var n int64
		if err := r.Scan(&k, &n); err != nil {
			return err
		}
		return out.Put("seen_counts", k, be64(uint64(n)))
	}); err != nil {
		return err
	}
	if err := each(ctx, stx, `SELECT src, seq FROM seen`, func(r *sql.Rows) error {
		var src []byte
		var seq int64
		if err := r.Scan(&src, &seq); err != nil {
			return err
		}
		return out.Put("seen", append(src, be64(uint64(seq)^(1<<63))...), nil)
	}); err != nil {
		return err
	}
	if err := convertMessages(ctx, stx, out, has); err != nil {
		return err
	}
	if ok, err := has("outbox"); err != nil {
		return err
	} else if ok {
		if err := each(ctx, stx, `SELECT seq, v FROM outbox`, func(r *sql.Rows) error {
			var seq int64
			var v []byte
			if err := r.Scan(&seq, &v); err != nil {
				return err
			}
			return out.Put("outbox", be64(uint64(seq)), v)
		}); err != nil {
			return err
		}
	}
	// secure_delete zeroes the old tables' pages as they go.
	for _, table := range []string{"meta", "secrets", "contacts", "sessions", "messages", "seen_sources", "seen", "outbox"} {
		if _, err := stx.ExecContext(ctx, `DROP TABLE IF EXISTS `+table); err != nil {
			return err
		}
	}
	return nil
}

func convertMessages(ctx context.Context, stx *sql.Tx, out *tx, has func(string) (bool, error)) error {
	var n int
	if err := stx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'unshown'`).Scan(&n); err != nil {
		return err
	}
	unshown := "0"
	if n > 0 {
		unshown = "unshown"
	}
	var last uint64
	err := each(ctx, stx, `SELECT seq, conv, id, v, `+unshown+` FROM messages`, func(r *sql.Rows) error {
		var seq int64
		var conv, id, v []byte
		var flag int
		if err := r.Scan(&seq, &conv, &id, &v, &flag); err != nil {
			return err
		}
		s := be64(uint64(seq))
		last = max(last, uint64(seq))
		key := append(append(slices.Clone(conv), s...), id...)
		if err := out.Put("messages", key, v); err != nil {
			return err
		}
		if err := out.Put("message_ids", append(slices.Clone(conv), id...), s); err != nil {
			return err
		}
		if flag == 1 {
			return out.Put("unshown", s, append(slices.Clone(conv), id...))
		}
		return nil
	})
	if err != nil || last == 0 {
		return err
	}
	return out.Put("counters", []byte("messages"), be64(last))
}

// each runs fn on every row of query. Writes to kv while the query is
// open are fine: it reads other tables.
func each(ctx context.Context, stx *sql.Tx, query string, fn func(*sql.Rows) error) error {
	rows, err := stx.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
