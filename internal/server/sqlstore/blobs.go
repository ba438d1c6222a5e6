package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

const blobCols = "id, owner, size, chunk_size, chunks, chunks_stored, recipients, fetched, expires_at, created_at"

// chunkCount is how many chunks a blob of size bytes has: every one but
// the last is chunkSize long, and an empty blob has none.
func chunkCount(size, chunkSize int64) int64 {
	return (size + chunkSize - 1) / chunkSize
}

// CreateBlob records a new blob with no chunks yet, within the owner's
// quota q (see store.Blobs). An id already used is ErrExists; an id longer
// than 100 bytes is ErrInvalid; a zero CreatedAt means now, a zero
// ExpiresAt never.
func (db *DB) CreateBlob(ctx context.Context, b store.Blob, q store.BlobQuota) error {
	if b.ID == "" || len(b.ID) > maxBlobID || b.Size < 0 || b.ChunkSize <= 0 || b.Recipients < 1 {
		return fmt.Errorf("%w: blob", ErrInvalid)
	}
	for _, n := range b.MultiDevice {
		if n < 2 || n > b.Recipients {
			return fmt.Errorf("%w: blob account share %d of %d recipients", ErrInvalid, n, b.Recipients)
		}
	}
	if b.CreatedAt.IsZero() {
		b.CreatedAt = db.now()
	}
	// A creation over quota is refused on a read connection, without
	// taking the SQLite write connection that everyone shares; the check
	// is repeated inside the transaction, where it decides.
	if err := db.checkBlobQuota(ctx, db.queryRow, b, q); err != nil {
		return dbErr("create blob", err)
	}
	err := db.write(ctx, func(t tx) error {
		if err := db.lockBlobOwner(ctx, t, b.Owner); err != nil {
			return err
		}
		if err := db.checkBlobQuota(ctx, t.queryRow, b, q); err != nil {
			return err
		}
		_, err := t.exec(ctx, "INSERT INTO blobs ("+blobCols+") VALUES (?, ?, ?, ?, ?, 0, ?, 0, ?, ?)",
			b.ID, b.Owner, b.Size, b.ChunkSize, chunkCount(b.Size, b.ChunkSize), b.Recipients,
			expiryMS(b.ExpiresAt), ms(b.CreatedAt))
		if isUnique(err) {
			return store.ErrExists
		}
		if err != nil {
			return err
		}
		for name, n := range b.MultiDevice {
			if _, err := t.exec(ctx, "INSERT INTO blob_accounts (blob_id, username, devices) VALUES (?, ?, ?)", b.ID, name, n); err != nil {
				return err
			}
		}
		return nil
	})
	return dbErr("create blob", err)
}

// lockBlobOwner serializes, for PostgreSQL, the blob creations of one
// owner by locking its account row until the transaction ends, so two
// concurrent creations cannot both pass the quota check. NO KEY UPDATE
// leaves rows that reference the account (devices, tokens) free to be
// inserted meanwhile. SQLite serializes all writers already.
func (db *DB) lockBlobOwner(ctx context.Context, t tx, owner string) error {
	if db.dialect != DialectPostgres {
		return nil
	}
	var one int
	err := t.queryRow(ctx, "SELECT 1 FROM accounts WHERE username = ? FOR NO KEY UPDATE", owner).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // an owner without an account row (tests): nothing to lock
	}
	return err
}

// checkBlobQuota refuses blob b when its owner's live blobs leave no room
// for it under q.
func (db *DB) checkBlobQuota(ctx context.Context, queryRow func(context.Context, string, ...any) *sql.Row, b store.Blob, q store.BlobQuota) error {
	if q.MaxBytes <= 0 && q.MaxIncomplete <= 0 {
		return nil
	}
	charge := max(b.Size, q.MinCharge)
	var held, incomplete int64
	// PostgreSQL sums BIGINTs as NUMERIC: the casts bring them back.
	err := queryRow(ctx, "SELECT CAST(COALESCE(SUM(CASE WHEN size < ? THEN ? ELSE size END), 0) AS BIGINT), "+
		"CAST(COALESCE(SUM(CASE WHEN chunks_stored < chunks THEN 1 ELSE 0 END), 0) AS BIGINT) "+
		"FROM blobs WHERE owner = ? AND expires_at >= ?",
		q.MinCharge, q.MinCharge, b.Owner, b.CreatedAt.UnixMilli()).Scan(&held, &incomplete)
	if err != nil {
		return err
	}
	if q.MaxBytes > 0 && (charge > q.MaxBytes || held > q.MaxBytes-charge) {
		return store.ErrBlobQuota
	}
	if q.MaxIncomplete > 0 && b.Size > 0 && incomplete >= int64(q.MaxIncomplete) {
		return store.ErrBlobUploads
	}
	return nil
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
//
// SQLite keeps the bytes in a file (see chunkFiles), written and fsynced
// before the write transaction so that the single write connection only
// waits for the rename, the directory fsync and the commit.
func (db *DB) PutChunk(ctx context.Context, id string, index int64, data []byte) error {
	sum := sha256.Sum256(data)
	tmp, stored, err := db.writeChunkFile(ctx, id, index, data, sum[:])
	if err != nil || stored {
		return err
	}
	defer func() {
		if tmp != "" {
			os.Remove(tmp)
		}
	}()
	err = db.write(ctx, func(t tx) error {
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
		if err := validChunk(size, chunkSize, chunks, index, data); err != nil {
			return err
		}
		var oldSum, old []byte
		err = t.queryRow(ctx, "SELECT sha256, data FROM blob_chunks WHERE blob_id = ? AND idx = ?", id, index).Scan(&oldSum, &old)
		if err == nil {
			return sameChunk(oldSum, old, sum[:], data)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		inDB := data // the bytes the row keeps: none when they are in a file
		if tmp != "" {
			// No row for this index exists and writers are serialized, so
			// the rename replaces at most a file a crash left behind.
			if err := db.files.place(tmp, id, index); err != nil {
				return err
			}
			tmp, inDB = "", nil
			defer func() {
				if err != nil {
					// Rolled back: the file must not outlive its row.
					os.Remove(db.files.path(id, index))
				}
			}()
		}
		if _, err = t.exec(ctx, "INSERT INTO blob_chunks (blob_id, idx, data, sha256) VALUES (?, ?, ?, ?)", id, index, nonNil(inDB), sum[:]); err != nil {
			return err
		}
		_, err = t.exec(ctx, "UPDATE blobs SET chunks_stored = chunks_stored + 1 WHERE id = ?", id)
		return err
	})
	return dbErr("put chunk", err)
}

// writeChunkFile writes a SQLite store's chunk to a temporary file and
// returns its path, after checking on a read connection that the chunk is
// new, so that a bad or resent chunk costs no file (the write transaction
// checks again). stored reports a resend of a stored chunk. For
// PostgreSQL it does nothing.
func (db *DB) writeChunkFile(ctx context.Context, id string, index int64, data, sum []byte) (tmp string, stored bool, err error) {
	if db.files == nil {
		return "", false, nil
	}
	if err := db.checkChunk(ctx, id, index, data, sum); err != nil {
		if errors.Is(err, errChunkStored) {
			return "", true, nil
		}
		return "", false, dbErr("put chunk", err)
	}
	if tmp, err = db.files.writeTemp(id, index, data); err != nil {
		if _, gerr := db.GetBlob(ctx, id); errors.Is(gerr, store.ErrNotFound) {
			return "", false, store.ErrNotFound // deleted meanwhile, with its directory
		}
		return "", false, fmt.Errorf("sqlstore: put chunk: %w", err)
	}
	return tmp, false, nil
}

// errChunkStored: checkChunk found the same bytes stored already.
var errChunkStored = errors.New("chunk stored already")

// checkChunk runs PutChunk's checks outside a transaction: ErrNotFound,
// ErrInvalid, ErrExists, errChunkStored, or nil when the chunk is new.
func (db *DB) checkChunk(ctx context.Context, id string, index int64, data, sum []byte) error {
	var size, chunkSize, chunks int64
	err := db.queryRow(ctx, "SELECT size, chunk_size, chunks FROM blobs WHERE id = ?", id).Scan(&size, &chunkSize, &chunks)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := validChunk(size, chunkSize, chunks, index, data); err != nil {
		return err
	}
	var oldSum, old []byte
	err = db.queryRow(ctx, "SELECT sha256, data FROM blob_chunks WHERE blob_id = ? AND idx = ?", id, index).Scan(&oldSum, &old)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := sameChunk(oldSum, old, sum, data); err != nil {
		return err
	}
	return errChunkStored
}

// validChunk checks that index is within the blob and data has its length.
func validChunk(size, chunkSize, chunks, index int64, data []byte) error {
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
	return nil
}

// sameChunk decides a resend: nil when the stored chunk (its SHA-256, or
// for rows stored before the sha256 column existed its bytes) equals the
// new one, ErrExists otherwise.
func sameChunk(oldSum, old, sum, data []byte) error {
	if oldSum != nil && bytes.Equal(oldSum, sum) || oldSum == nil && bytes.Equal(old, data) {
		return nil // a resumed upload resending what arrived
	}
	return store.ErrExists
}

// GetChunk returns a stored chunk or ErrNotFound. From a SQLite store's
// files it returns ErrChunkCorrupt, never other bytes, when the file is
// missing or does not match the SHA-256 recorded with it.
func (db *DB) GetChunk(ctx context.Context, id string, index int64) ([]byte, error) {
	var sum, data []byte
	err := db.queryRow(ctx, "SELECT sha256, data FROM blob_chunks WHERE blob_id = ? AND idx = ?", id, index).Scan(&sum, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get chunk", err)
	}
	if db.files == nil || sum == nil || len(data) > 0 {
		return nonNil(data), nil // kept in the database
	}
	data, err = db.files.read(id, index, sum)
	if errors.Is(err, fs.ErrNotExist) {
		// Deleted since the row was read, or lost.
		if _, gerr := db.GetBlob(ctx, id); errors.Is(gerr, store.ErrNotFound) {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("%w: chunk %d of a blob has no file", ErrChunkCorrupt, index)
	}
	if err != nil && !errors.Is(err, ErrChunkCorrupt) {
		return nil, fmt.Errorf("sqlstore: get chunk: %w", err)
	}
	return data, err
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

// MarkFetched records that a device downloaded the whole blob; see
// store.Blobs. The device is remembered in blob_done, so its report
// counts once whatever restarts or server instances come between.
func (db *DB) MarkFetched(ctx context.Context, id, username string, deviceID uint32) (store.Completion, error) {
	var c store.Completion
	err := db.write(ctx, func(t tx) error {
		c = store.Completion{}
		// Locking the blob row serializes the reports of one blob, so the
		// per-account counts and Fetched stay exact.
		var fetched, recipients int64
		err := t.queryRow(ctx, "SELECT fetched, recipients FROM blobs WHERE id = ?"+db.forUpdate(), id).Scan(&fetched, &recipients)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		var seen int
		err = t.queryRow(ctx, "SELECT 1 FROM blob_done WHERE blob_id = ? AND username = ? AND device_id = ?", id, username, int64(deviceID)).Scan(&seen)
		if err == nil {
			c.Repeat = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		share := int64(1)
		err = t.queryRow(ctx, "SELECT devices FROM blob_accounts WHERE blob_id = ? AND username = ?", id, username).Scan(&share)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var counted int64
		if err := t.queryRow(ctx, "SELECT COUNT(*) FROM blob_done WHERE blob_id = ? AND username = ?", id, username).Scan(&counted); err != nil {
			return err
		}
		if counted >= share {
			// Beyond its account's share: the device is not recorded, so
			// the rows of a blob never outnumber its recipients.
			return nil
		}
		if _, err := t.exec(ctx, "INSERT INTO blob_done (blob_id, username, device_id) VALUES (?, ?, ?)", id, username, int64(deviceID)); err != nil {
			return err
		}
		c.Counted = true
		if fetched+1 >= recipients {
			c.Deleted = true
			_, err = t.exec(ctx, "DELETE FROM blobs WHERE id = ?", id)
			return err
		}
		_, err = t.exec(ctx, "UPDATE blobs SET fetched = fetched + 1 WHERE id = ?", id)
		return err
	})
	if err != nil {
		return store.Completion{}, dbErr("mark fetched", err)
	}
	if c.Deleted && db.files != nil {
		// The blob is deleted whether or not this succeeds; what it leaves
		// is swept by ExpireBlobs.
		db.files.remove(id)
	}
	return c, nil
}

// ExpireBlobs deletes blobs (with their chunks) whose ExpiresAt is before
// now and returns how many it deleted. A SQLite store then removes their
// files and sweeps those of blobs deleted without their files removed.
func (db *DB) ExpireBlobs(ctx context.Context, now time.Time) (int64, error) {
	var ids []string
	err := db.write(ctx, func(t tx) error {
		ids = ids[:0]
		rows, err := t.query(ctx, "DELETE FROM blobs WHERE expires_at < ? RETURNING id", now.UnixMilli())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, dbErr("expire blobs", err)
	}
	n := int64(len(ids))
	if db.files == nil {
		return n, nil
	}
	if err := db.files.remove(ids...); err != nil {
		return n, fmt.Errorf("sqlstore: expire blobs: %w", err)
	}
	return n, db.sweepChunkFiles(ctx)
}
