package sqlstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// Tests of where a SQLite store keeps chunk bytes: files next to the
// database, checked against the SHA-256 kept in blob_chunks.

// chunkFixture opens a SQLite store in a temporary directory with one
// blob "b" of two 10-byte chunks, both stored.
func chunkFixture(t *testing.T) (*fixture, [][]byte) {
	t.Helper()
	f := newFixture(t, func(t *testing.T) *DB { return openSQLite(t) })
	if f.db.files == nil {
		t.Fatal("SQLite store without a chunk directory")
	}
	f.must(f.db.CreateBlob(f.ctx, newBlob("b", 20, 10, 1, f.now.Now().Add(time.Hour)), store.BlobQuota{}))
	chunks := [][]byte{randBytes(10), randBytes(10)}
	for i, c := range chunks {
		f.must(f.db.PutChunk(f.ctx, "b", int64(i), c))
	}
	return f, chunks
}

// blobDir is where the store keeps the files of blob id.
func blobDir(db *DB, id string) string {
	return filepath.Join(strings.TrimPrefix(db.src, "sqlite://")+"-blobs", hex.EncodeToString([]byte(id)))
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestSQLiteChunksInFiles(t *testing.T) {
	f, chunks := chunkFixture(t)
	dir := blobDir(f.db, "b")
	if got := dirNames(t, dir); !slices.Equal(got, []string{"0", "1"}) {
		t.Fatalf("blob directory holds %v, want [0 1] (no temporary files)", got)
	}
	for i, c := range chunks {
		onDisk, err := os.ReadFile(filepath.Join(dir, []string{"0", "1"}[i]))
		f.must(err)
		if !bytes.Equal(onDisk, c) {
			t.Fatalf("file of chunk %d differs from the chunk", i)
		}
	}
	// The bytes are not also in the database: that was the double write
	// the files replace.
	var inDB int64
	f.must(f.db.queryRow(f.ctx, "SELECT COALESCE(SUM(length(data)), 0) FROM blob_chunks").Scan(&inDB))
	if inDB != 0 {
		t.Fatalf("blob_chunks holds %d bytes of chunk data", inDB)
	}
	// A refused resend leaves no file behind and the stored one intact.
	wantErr(t, "resending other bytes", f.db.PutChunk(f.ctx, "b", 0, randBytes(10)), store.ErrExists)
	wantErr(t, "resending the same bytes", f.db.PutChunk(f.ctx, "b", 0, chunks[0]), nil)
	if got := dirNames(t, dir); !slices.Equal(got, []string{"0", "1"}) {
		t.Fatalf("after resends the blob directory holds %v", got)
	}
	if c, err := f.db.GetChunk(f.ctx, "b", 0); err != nil || !bytes.Equal(c, chunks[0]) {
		t.Fatalf("chunk 0 after resends = %x, %v", c, err)
	}
}

func TestSQLiteChunkFileSurvivesReopen(t *testing.T) {
	f, chunks := chunkFixture(t)
	f.must(f.db.Close())
	db := reopen(t, f.db)
	for i, want := range chunks {
		c, err := db.GetChunk(f.ctx, "b", int64(i))
		if err != nil || !bytes.Equal(c, want) {
			t.Fatalf("chunk %d after reopen = %x, %v", i, c, err)
		}
	}
	if b, err := db.GetBlob(f.ctx, "b"); err != nil || !b.Complete {
		t.Fatalf("blob after reopen = %+v, %v", b, err)
	}
}

// TestSQLiteTamperedChunkFile is a security regression test: a chunk file
// changed on disk (bit rot, or someone with access to the disk) must be
// reported, never served as the chunk.
func TestSQLiteTamperedChunkFile(t *testing.T) {
	f, chunks := chunkFixture(t)
	path := filepath.Join(blobDir(f.db, "b"), "0")
	for name, tamper := range map[string][]byte{
		"flipped byte": append([]byte{chunks[0][0] ^ 1}, chunks[0][1:]...),
		"truncated":    chunks[0][:9],
		"extended":     append(bytes.Clone(chunks[0]), 0),
		"other chunk":  chunks[1],
	} {
		f.must(os.WriteFile(path, tamper, 0o600))
		c, err := f.db.GetChunk(f.ctx, "b", 0)
		if !errors.Is(err, ErrChunkCorrupt) || c != nil {
			t.Errorf("%s: GetChunk = %x, %v; want ErrChunkCorrupt and no bytes", name, c, err)
		}
	}
	f.must(os.Remove(path))
	if _, err := f.db.GetChunk(f.ctx, "b", 0); !errors.Is(err, ErrChunkCorrupt) {
		t.Errorf("missing file of a live blob: GetChunk err = %v, want ErrChunkCorrupt", err)
	}
	// The other chunk is unaffected.
	if c, err := f.db.GetChunk(f.ctx, "b", 1); err != nil || !bytes.Equal(c, chunks[1]) {
		t.Fatalf("chunk 1 = %x, %v", c, err)
	}
}

func TestSQLiteChunkFilesRemovedWithBlob(t *testing.T) {
	f, _ := chunkFixture(t)
	dir := blobDir(f.db, "b")
	if c, err := f.db.MarkFetched(f.ctx, "b", "bob", 1); err != nil || !c.Deleted {
		t.Fatalf("MarkFetched = %+v, %v", c, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("files of a fetched blob remain: %v", err)
	}

	exp := f.now.Now().Add(time.Hour)
	f.must(f.db.CreateBlob(f.ctx, newBlob("old", 10, 10, 1, exp), store.BlobQuota{}))
	f.must(f.db.PutChunk(f.ctx, "old", 0, randBytes(10)))
	f.must(f.db.CreateBlob(f.ctx, newBlob("new", 10, 10, 1, exp.Add(2*time.Hour)), store.BlobQuota{}))
	f.must(f.db.PutChunk(f.ctx, "new", 0, randBytes(10)))
	if n, err := f.db.ExpireBlobs(f.ctx, exp.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("ExpireBlobs = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(blobDir(f.db, "old")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("files of an expired blob remain: %v", err)
	}
	if _, err := f.db.GetChunk(f.ctx, "new", 0); err != nil {
		t.Fatalf("chunk of a live blob after ExpireBlobs: %v", err)
	}
}

// plantLeftover makes the directory a crash can leave: files of a blob
// whose row is gone, including a temporary file.
func plantLeftover(t *testing.T, db *DB, id string) string {
	t.Helper()
	dir := blobDir(db, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"0", "1.tmp-0011223344556677"} {
		if err := os.WriteFile(filepath.Join(dir, name), randBytes(10), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSQLiteChunkLeftoversSwept(t *testing.T) {
	f, chunks := chunkFixture(t)
	root := strings.TrimPrefix(f.db.src, "sqlite://") + "-blobs"
	atOpen := plantLeftover(t, f.db, "crashed-before-open")
	foreign := filepath.Join(root, "not-a-blob") // not a name the store makes
	f.must(os.Mkdir(foreign, 0o700))
	f.must(f.db.Close())

	db := reopen(t, f.db)
	if _, err := os.Stat(atOpen); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open left the files of a deleted blob: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Fatalf("Open removed a directory the store did not make: %v", err)
	}
	atExpire := plantLeftover(t, db, "crashed-while-running")
	if _, err := db.ExpireBlobs(f.ctx, f.now.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(atExpire); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ExpireBlobs left the files of a deleted blob: %v", err)
	}
	// The live blob was not swept.
	for i, want := range chunks {
		if c, err := db.GetChunk(f.ctx, "b", int64(i)); err != nil || !bytes.Equal(c, want) {
			t.Fatalf("chunk %d of a live blob after sweeps = %x, %v", i, c, err)
		}
	}
}

// TestSQLiteChunkFilePermissions is a security regression test: chunk
// files are ciphertext, but who sent how much to how many is metadata
// other local users must not read, whatever the umask.
func TestSQLiteChunkFilePermissions(t *testing.T) {
	f, _ := chunkFixture(t)
	dir := blobDir(f.db, "b")
	for p, want := range map[string]os.FileMode{filepath.Dir(dir): 0o700, dir: 0o700, filepath.Join(dir, "0"): 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %o, want %o", p, got, want)
		}
	}
}

// TestSQLiteChunkInDatabase reads a chunk stored before chunks moved to
// files: its bytes in data, no SHA-256.
func TestSQLiteChunkInDatabase(t *testing.T) {
	f := newFixture(t, func(t *testing.T) *DB { return openSQLite(t) })
	f.must(f.db.CreateBlob(f.ctx, newBlob("legacy", 20, 10, 1, time.Time{}), store.BlobQuota{}))
	c0 := randBytes(10)
	f.must(f.db.write(f.ctx, func(t tx) error {
		_, err := t.exec(f.ctx, "INSERT INTO blob_chunks (blob_id, idx, data) VALUES (?, 0, ?)", "legacy", c0)
		if err == nil {
			_, err = t.exec(f.ctx, "UPDATE blobs SET chunks_stored = 1 WHERE id = ?", "legacy")
		}
		return err
	}))
	if c, err := f.db.GetChunk(f.ctx, "legacy", 0); err != nil || !bytes.Equal(c, c0) {
		t.Fatalf("chunk kept in the database = %x, %v", c, err)
	}
	wantErr(t, "resending the same bytes", f.db.PutChunk(f.ctx, "legacy", 0, bytes.Clone(c0)), nil)
	wantErr(t, "resending other bytes", f.db.PutChunk(f.ctx, "legacy", 0, randBytes(10)), store.ErrExists)
	c1 := randBytes(10)
	f.must(f.db.PutChunk(f.ctx, "legacy", 1, c1))
	if b, _ := f.db.GetBlob(f.ctx, "legacy"); !b.Complete {
		t.Fatal("blob with one chunk in the database and one in a file not complete")
	}
	if c, err := f.db.GetChunk(f.ctx, "legacy", 1); err != nil || !bytes.Equal(c, c1) {
		t.Fatalf("chunk in a file = %x, %v", c, err)
	}
}

func TestBlobIDLength(t *testing.T) {
	db := openSQLite(t)
	long := strings.Repeat("x", maxBlobID+1)
	wantErr(t, "CreateBlob with a long id", db.CreateBlob(context.Background(), newBlob(long, 1, 1, 1, time.Time{}), store.BlobQuota{}), ErrInvalid)
	wantErr(t, "CreateBlob with a maximal id", db.CreateBlob(context.Background(), newBlob(long[1:], 1, 1, 1, time.Time{}), store.BlobQuota{}), nil)
}

// TestSQLiteChunksSurviveKill stores chunks from a child process, kills
// it with SIGKILL while it is storing, and checks that every chunk the
// child saw acknowledged reads back intact after reopening, and that no
// chunk with a row lacks its file.
func TestSQLiteChunksSurviveKill(t *testing.T) {
	if os.Getenv("HUSH_SQLSTORE_CHUNK_CHILD") != "" {
		t.Skip("child process")
	}
	path := filepath.Join(t.TempDir(), "hush.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := db.CreateBlob(ctx, newBlob("k", killChunks*killChunkSize, killChunkSize, 1, time.Time{}), store.BlobQuota{}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteChunkKillChild$")
	cmd.Env = append(os.Environ(), "HUSH_SQLSTORE_CHUNK_CHILD="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []int64
	sc := bufio.NewScanner(out)
	for len(acked) < 100 && sc.Scan() {
		if i, err := strconv.ParseInt(strings.TrimPrefix(sc.Text(), "chunk "), 10, 64); err == nil {
			acked = append(acked, i)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(acked) < 100 {
		t.Fatalf("child acknowledged only %d chunks", len(acked))
	}

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	present, err := db.ChunksPresent(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range acked {
		if _, ok := slices.BinarySearch(present, i); !ok {
			t.Fatalf("acknowledged chunk %d lost by kill -9", i)
		}
	}
	for _, i := range present {
		if c, err := db.GetChunk(ctx, "k", i); err != nil || !bytes.Equal(c, killChunk(i)) {
			t.Fatalf("chunk %d after kill -9: %v", i, err)
		}
	}
}

const killChunks, killChunkSize = 20000, 4096

// killChunk is the content of chunk i in TestSQLiteChunksSurviveKill.
func killChunk(i int64) []byte {
	return bytes.Repeat([]byte(strconv.FormatInt(i, 36)+"."), killChunkSize)[:killChunkSize]
}

// TestSQLiteChunkKillChild is the child process of
// TestSQLiteChunksSurviveKill: it stores chunks until killed, printing
// each acknowledged index.
func TestSQLiteChunkKillChild(t *testing.T) {
	path := os.Getenv("HUSH_SQLSTORE_CHUNK_CHILD")
	if path == "" {
		t.Skip("run by TestSQLiteChunksSurviveKill")
	}
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(killChunks) {
		if err := db.PutChunk(context.Background(), "k", i, killChunk(i)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stdout, "chunk %d\n", i)
	}
}
