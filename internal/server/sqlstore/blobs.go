package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

const blobCols = "id, owner, size, chunk_size, chunks, chunks_stored, recipients, fetched, expires_at, created_at"

// chunkCount is how many chunks a blob of size bytes has: every one but
// the last is chunkSize long, and an empty blob has none.
func chunkCount(size, chunkSize int64) int64 {
	return (size + chunkSize - 1) / chunkSize
}

// CreateBlob records a new blob with no chunks yet. An id already used is
// ErrExists; a zero CreatedAt means now, a zero ExpiresAt never.
func (db *DB) CreateBlob(ctx context.Context, b store.Blob) error {
	if b.ID == "" || b.Size < 0 || b.ChunkSize <= 0 || b.Recipients < 1 {
		return fmt.Errorf("%w: blob", ErrInvalid)
	}
	if b.CreatedAt.IsZero() {
		b.CreatedAt = db.now()
	}
	err := db.write(ctx, func(t tx) error {
		_, err := t.exec(ctx, "INSERT INTO blobs ("+blobCols+") VALUES (?, ?, ?, ?, ?, 0, ?, 0, ?, ?)",
			b.ID, b.Owner, b.Size, b.ChunkSize, chunkCount(b.Size, b.ChunkSize), b.Recipients,
			expiryMS(b.ExpiresAt), ms(b.CreatedAt))
		if isUnique(err) {
			return store.ErrExists
		}
		return err
	})
	return dbErr("create blob", err)
}

// GetBlob returns a blob or ErrNotFound.
func (db *DB) GetBlob(ctx context.Context, id string) (*store.Blob, error) {
	var b store.Blob
	var chunks, stored, exp, created int64
	err := db.queryRow(ctx, "SELECT "+blobCols+" FROM blobs WHERE id = ?", id).Scan(
		&b.ID, &b.Owner, &b.Size, &b.ChunkSize, &chunks, &stored, &b.Recipients, &b.Fetched, &exp, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get blob", err)
	}
	b.Complete = stored == chunks
	b.ExpiresAt, b.CreatedAt = fromMS(exp), fromMS(created)
	return &b, nil
}

// PutChunk stores chunk index of blob id; see store.Blobs. An index
// outside the blob or data of the wrong length for it is ErrInvalid.
func (db *DB) PutChunk(ctx context.Context, id string, index int64, data []byte) error {
	err := db.write(ctx, func(t tx) error {
		// Locking the blob row serializes the uploads of one blob, so the
		// count of stored chunks that makes it complete stays exact.
		var size, chunkSize, chunks int64
		err := t.queryRow(ctx, "SELECT size, chunk_size, chunks FROM blobs WHERE id = ?"+db.forUpdate(), id).Scan(&size, &chunkSize, &chunks)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if index < 0 || index >= chunks {
			return fmt.Errorf("%w: chunk %d of a blob of %d chunks", ErrInvalid, index, chunks)
		}
		want := chunkSize
		if index == chunks-1 {
			want = size - index*chunkSize
		}
		if int64(len(data)) != want {
			return fmt.Errorf("%w: chunk %d is %d bytes, want %d", ErrInvalid, index, len(data), want)
		}
		var old []byte
		err = t.queryRow(ctx, "SELECT data FROM blob_chunks WHERE blob_id = ? AND idx = ?", id, index).Scan(&old)
		if err == nil {
			if bytes.Equal(old, data) {
				return nil // a resumed upload resending what arrived
			}
			return store.ErrExists
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := t.exec(ctx, "INSERT INTO blob_chunks (blob_id, idx, data) VALUES (?, ?, ?)", id, index, nonNil(data)); err != nil {
			return err
		}
		_, err = t.exec(ctx, "UPDATE blobs SET chunks_stored = chunks_stored + 1 WHERE id = ?", id)
		return err
	})
	return dbErr("put chunk", err)
}

// GetChunk returns a stored chunk or ErrNotFound.
func (db *DB) GetChunk(ctx context.Context, id string, index int64) ([]byte, error) {
	var data []byte
	err := db.queryRow(ctx, "SELECT data FROM blob_chunks WHERE blob_id = ? AND idx = ?", id, index).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get chunk", err)
	}
	return nonNil(data), nil
}

// ChunksPresent lists the indexes stored so far, ascending; ErrNotFound
// for an unknown blob.
func (db *DB) ChunksPresent(ctx context.Context, id string) ([]int64, error) {
	rows, err := db.query(ctx, "SELECT idx FROM blob_chunks WHERE blob_id = ? ORDER BY idx", id)
	if err != nil {
		return nil, dbErr("chunks present", err)
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var i int64
		if err := rows.Scan(&i); err != nil {
			return nil, dbErr("chunks present", err)
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("chunks present", err)
	}
	if len(out) == 0 {
		if _, err := db.GetBlob(ctx, id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MarkFetched records one completed download and deletes the blob when
// the count reaches its recipients; it reports whether it deleted it.
func (db *DB) MarkFetched(ctx context.Context, id string) (bool, error) {
	var gone bool
	err := db.write(ctx, func(t tx) error {
		var fetched, recipients int64
		err := t.queryRow(ctx, "UPDATE blobs SET fetched = fetched + 1 WHERE id = ? RETURNING fetched, recipients", id).Scan(&fetched, &recipients)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		gone = fetched >= recipients
		if gone {
			_, err = t.exec(ctx, "DELETE FROM blobs WHERE id = ?", id)
		}
		return err
	})
	if err != nil {
		return false, dbErr("mark fetched", err)
	}
	return gone, nil
}

// ExpireBlobs deletes blobs (with their chunks) whose ExpiresAt is before
// now and returns how many it deleted.
func (db *DB) ExpireBlobs(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(t tx) error {
		res, err := t.exec(ctx, "DELETE FROM blobs WHERE expires_at < ?", now.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, dbErr("expire blobs", err)
}
