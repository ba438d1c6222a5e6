package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// BackupResult says what Backup copied.
type BackupResult struct {
	Dir         string
	Chunks      int    // attachment chunk files copied
	ChunkBytes  int64  // their size
	DroppedBlob int    // attachments deleted while the backup ran, left out
	Fingerprint string // of the signing key copied
}

// Backup writes a consistent copy of a SQLite deployment to dir, which
// must not exist or be empty, while the server may be running: the
// database as one snapshot (VACUUM INTO), the attachment chunk files the
// snapshot refers to (each checked against its SHA-256), and the signing
// key file (encrypted as it is). dir is then a data directory: hush
// server --data dir starts on it. A PostgreSQL deployment is backed up
// with pg_dump and a copy of its key file.
func Backup(ctx context.Context, cfg Config, dir string) (*BackupResult, error) {
	src, ok := strings.CutPrefix(cfg.databaseURL(), "sqlite://")
	if !ok {
		return nil, errors.New("backup: the database is PostgreSQL: back it up with pg_dump, and copy the signing key file")
	}
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("backup: no database at %s (check --data, --db or --config)", src)
	}
	keyFile := cfg.SigningKey
	if keyFile == "" {
		keyFile = filepath.Join(cfg.DataDir, serverKeyFile)
	}
	keyBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("backup: signing key: %w", err)
	}
	if err := emptyDir(dir); err != nil {
		return nil, err
	}
	res := &BackupResult{Dir: dir}
	dst := filepath.Join(dir, "hush.db")
	if err := vacuumInto(ctx, src, dst); err != nil {
		return nil, err
	}
	if err := copyChunks(ctx, src+"-blobs", dst, res); err != nil {
		return nil, err
	}
	if err := writeFileSync(filepath.Join(dir, serverKeyFile), keyBytes); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if k, err := ReadKeyFile(keyFile, []byte(cfg.KeyPassphrase)); err == nil {
		res.Fingerprint = fingerprintOf(k.Public().Bytes())
	}
	return res, syncDir(dir)
}

// emptyDir creates dir (0700) or checks that it is empty.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("backup: %s is not empty: give a new directory", dir)
	}
	return nil
}

// vacuumInto writes a snapshot of the live database src to dst. It reads
// in one transaction, so it sees one committed state whatever the running
// server writes meanwhile, and it never migrates or writes src.
func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite", src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("backup: snapshot of %s: %w", src, err)
	}
	return os.Chmod(dst, 0o600)
}

// copyChunks copies the chunk files that the snapshot dst refers to. A
// chunk whose file is gone belongs to an attachment deleted since the
// snapshot (fetched by all its recipients, or expired): the attachment is
// removed from the snapshot too, as the server would have by then.
func copyChunks(ctx context.Context, srcRoot, dst string, res *BackupResult) error {
	db, err := sql.Open("sqlite", dst+"?_pragma=foreign_keys(1)")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT blob_id, idx, sha256 FROM blob_chunks WHERE sha256 IS NOT NULL AND length(data) = 0")
	if err != nil {
		return fmt.Errorf("backup: list chunks: %w", err)
	}
	type chunk struct {
		id  string
		idx int64
		sum []byte
	}
	var chunks []chunk
	for rows.Next() {
		var c chunk
		if err := rows.Scan(&c.id, &c.idx, &c.sum); err != nil {
			rows.Close()
			return fmt.Errorf("backup: list chunks: %w", err)
		}
		chunks = append(chunks, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("backup: list chunks: %w", err)
	}
	dstRoot := dst + "-blobs"
	if err := os.Mkdir(dstRoot, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	gone := map[string]bool{}
	for _, c := range chunks {
		if gone[c.id] {
			continue
		}
		name := filepath.Join(hex.EncodeToString([]byte(c.id)), strconv.FormatInt(c.idx, 10))
		data, err := os.ReadFile(filepath.Join(srcRoot, name))
		if errors.Is(err, fs.ErrNotExist) {
			gone[c.id] = true
			continue
		}
		if err != nil {
			return fmt.Errorf("backup: chunk file: %w", err)
		}
		if sum := sha256.Sum256(data); subtle.ConstantTimeCompare(sum[:], c.sum) != 1 {
			return fmt.Errorf("backup: chunk file %s does not match its SHA-256: the live data is damaged", name)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dstRoot, name)), 0o700); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := writeFileSync(filepath.Join(dstRoot, name), data); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		res.Chunks++
		res.ChunkBytes += int64(len(data))
	}
	// The chunk files were synced one by one; their directory entries
	// now, so the backup survives a crash right after it reports success.
	dirs, err := os.ReadDir(dstRoot)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for _, d := range dirs {
		if err := syncDir(filepath.Join(dstRoot, d.Name())); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	if err := syncDir(dstRoot); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for id := range gone {
		if _, err := db.ExecContext(ctx, "DELETE FROM blobs WHERE id = ?", id); err != nil {
			return fmt.Errorf("backup: drop a deleted attachment: %w", err)
		}
		os.RemoveAll(filepath.Join(dstRoot, hex.EncodeToString([]byte(id))))
		res.DroppedBlob++
	}
	return nil
}

// writeFileSync writes an owner-only file and flushes it to disk.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
