package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// ErrChunkCorrupt: a chunk file of a SQLite store is missing, or its bytes
// do not match the SHA-256 recorded when it was stored (the disk or
// someone with access to it changed it). GetChunk returns this error
// rather than wrong bytes.
var ErrChunkCorrupt = errors.New("sqlstore: stored chunk is corrupt")

// maxBlobID bounds a blob id: a SQLite store names a directory after it
// (hex-encoded, within the 255-byte limit of file names).
const maxBlobID = 100

// chunkFiles keeps the bytes of blob chunks of a SQLite store in files,
// one directory per blob:
//
//	<database file>-blobs/<hex of blob id>/<chunk index>
//
// while blob_chunks keeps one row per chunk with its SHA-256 (and an
// empty data column). Writing a megabyte chunk through SQLite cost it
// twice (into the WAL, then into the database at checkpoint) and kept the
// single write connection busy meanwhile; a file is written once, and
// outside the write transaction.
//
// A chunk is acknowledged only when both are durable: the file is
// written under a temporary name and fsynced first, then, inside the
// write transaction that inserts its row, renamed into place and its
// directory fsynced, before the commit. So a committed row always has its
// file, and a crash can only leave files without rows: temporary files
// and renamed chunks of a blob (removed with the blob), and directories
// of blobs whose rows are gone (removed by sweep, at Open and in
// ExpireBlobs). Deleting a blob commits the row deletion first, then
// removes the directory.
//
// The directory name is the hex of the blob id rather than the id itself:
// ids are arbitrary strings to the store, and base64 ids differing only
// in case would collide on a case-insensitive file system.
type chunkFiles struct {
	root string

	mu     sync.Mutex
	synced map[string]bool // blob directories whose entry in root is durable
}

func newChunkFiles(dbPath string) *chunkFiles {
	return &chunkFiles{root: dbPath + "-blobs", synced: map[string]bool{}}
}

// init creates the root directory (0700) and makes its entry durable.
func (cf *chunkFiles) init() error {
	if err := os.Mkdir(cf.root, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sqlstore: chunk directory: %w", err)
	}
	if err := syncDir(filepath.Dir(cf.root)); err != nil {
		return fmt.Errorf("sqlstore: chunk directory: %w", err)
	}
	return nil
}

func (cf *chunkFiles) dir(id string) string {
	return filepath.Join(cf.root, hex.EncodeToString([]byte(id)))
}

func (cf *chunkFiles) path(id string, index int64) string {
	return filepath.Join(cf.dir(id), strconv.FormatInt(index, 10))
}

// ensureDir creates the blob's directory (0700) if needed and fsyncs the
// root so the directory survives a crash. It fsyncs even when another
// caller or process created the directory, since the creator may not have
// synced it yet; each directory is synced once per process.
func (cf *chunkFiles) ensureDir(id string) error {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if cf.synced[id] {
		return nil
	}
	if err := os.Mkdir(cf.dir(id), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := syncDir(cf.root); err != nil {
		return err
	}
	cf.synced[id] = true
	return nil
}

// writeTemp writes data to a new temporary file (0600) in the blob's
// directory, fsyncs it and returns its path.
func (cf *chunkFiles) writeTemp(id string, index int64, data []byte) (string, error) {
	if err := cf.ensureDir(id); err != nil {
		return "", err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := cf.path(id, index) + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// place renames a temporary file to the chunk's name and fsyncs the
// directory, making the chunk durable under its final name.
func (cf *chunkFiles) place(tmp, id string, index int64) error {
	if err := os.Rename(tmp, cf.path(id, index)); err != nil {
		return err
	}
	return syncDir(cf.dir(id))
}

// read returns the chunk's bytes if their SHA-256 is sum. A missing file
// is fs.ErrNotExist; other bytes are ErrChunkCorrupt.
func (cf *chunkFiles) read(id string, index int64, sum []byte) ([]byte, error) {
	data, err := os.ReadFile(cf.path(id, index))
	if err != nil {
		return nil, err
	}
	got := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(got[:], sum) != 1 {
		return nil, fmt.Errorf("%w: chunk %d of a blob does not match its SHA-256", ErrChunkCorrupt, index)
	}
	return nonNil(data), nil
}

// remove deletes the directories of blobs whose rows are gone.
func (cf *chunkFiles) remove(ids ...string) error {
	var errs []error
	for _, id := range ids {
		cf.mu.Lock()
		delete(cf.synced, id)
		cf.mu.Unlock()
		errs = append(errs, os.RemoveAll(cf.dir(id)))
	}
	return errors.Join(errs...)
}

// sweepChunkFiles removes the directories of blobs that have no row: left
// by a crash between a deletion's commit and the removal of its files,
// or by a removal that failed. It lists the directories before reading
// the rows, and a blob's row commits before its directory is made, so a
// live blob is never swept. Names that are not the hex of an id are
// left alone.
func (db *DB) sweepChunkFiles(ctx context.Context) error {
	if db.files == nil {
		return nil
	}
	entries, err := os.ReadDir(db.files.root)
	if err != nil {
		return fmt.Errorf("sqlstore: sweep chunk files: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if b, err := hex.DecodeString(e.Name()); err == nil && e.IsDir() && hex.EncodeToString(b) == e.Name() {
			ids = append(ids, string(b))
		}
	}
	live := map[string]bool{}
	err = inChunks(ids, func(batch []string) error {
		rows, err := db.r.QueryContext(ctx, db.q("SELECT id FROM blobs WHERE id IN ("+placeholders(len(batch))+")"), anys(batch)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			live[id] = true
		}
		return rows.Err()
	})
	if err != nil {
		return dbErr("sweep chunk files", err)
	}
	var dead []string
	for _, id := range ids {
		if !live[id] {
			dead = append(dead, id)
		}
	}
	if err := db.files.remove(dead...); err != nil {
		return fmt.Errorf("sqlstore: sweep chunk files: %w", err)
	}
	return nil
}

// openChunkFiles prepares the chunk directory of a SQLite store and sweeps
// what a crash left in it. PostgreSQL keeps chunks in the database, where
// every server instance sharing it can read them.
func (db *DB) openChunkFiles(ctx context.Context) error {
	if db.files == nil {
		return nil
	}
	if err := db.files.init(); err != nil {
		return err
	}
	return db.sweepChunkFiles(ctx)
}

// syncDir fsyncs a directory, making the entries created, renamed or
// removed in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
