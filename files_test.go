package hush

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hush-chat/hush/internal/server"
	"github.com/hush-chat/hush/internal/stream"
	"github.com/hush-chat/hush/internal/wire"
)

// writeRandomFile writes size bytes from a seeded generator (fast and
// reproducible; these are test contents, not secrets) and returns their
// SHA-256.
func writeRandomFile(t testing.TB, path string, size int64, seed uint64) []byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	var s [32]byte
	s[0] = byte(seed)
	src := rand.NewChaCha8(s)
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		src.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		left -= n
	}
	return h.Sum(nil)
}

func fileSum(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

// pair creates alice and bob on srv, reaching it at url (the server's own
// or a proxy's).
func pair(t *testing.T, url string) (alice, bob *Client) {
	dir := t.TempDir()
	alice = create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: url}, "alice")
	bob = create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: url}, "bob")
	return alice, bob
}

// receiveFile syncs bob and returns the one file message he got.
func receiveFile(t *testing.T, bob *Client) Message {
	t.Helper()
	ms, err := bob.Sync(context.Background())
	if err != nil || len(ms) != 1 || ms[0].Attachment == nil {
		t.Fatalf("sync: %+v %v", ms, err)
	}
	return ms[0]
}

// heapPeak samples HeapInuse until stop is called and returns the peak.
func heapPeak() (stop func() uint64) {
	// A tight GC target makes the peak follow what is live rather than
	// how far the collector let garbage grow, which depends on how busy
	// the machine is.
	gc := debug.SetGCPercent(25)
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); debug.SetGCPercent(gc); return peak.Load() }
}

func TestLargeFileRoundTripWithFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("300 MB transfer")
	}
	ctx := context.Background()
	srv := startServer(t)
	alice, bob := pair(t, srv.HTTPURL())
	const size = 300_000_000
	src := filepath.Join(t.TempDir(), "big.bin")
	want := writeRandomFile(t, src, size, 1)
	runtime.GC()

	stop := heapPeak()
	var calls, last int64
	sent, err := alice.SendFile(ctx, "bob", src, func(done, total int64) {
		if done < last || total != size {
			t.Errorf("progress went from %d to %d of %d", last, done, total)
		}
		calls, last = calls+1, done
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != size || calls < size/transferPlain {
		t.Fatalf("progress ended at %d after %d calls", last, calls)
	}
	m := receiveFile(t, bob)
	if m.ID != sent.ID || m.Attachment.Name != "big.bin" || m.Attachment.Size != size || m.Attachment.Path != "" {
		t.Fatalf("received %+v %+v", m, m.Attachment)
	}
	dir := t.TempDir()
	got, err := bob.Download(ctx, m.ID, dir, nil)
	peak := stop()
	if err != nil {
		t.Fatal(err)
	}
	// Memory bound, not a time bound: a transfer that held the file (or
	// a growing part of it) would pass 300 MB.
	if peak > 64<<20 {
		t.Errorf("heap in use peaked at %d MiB while moving a %d MB file", peak>>20, size/1_000_000)
	}
	t.Logf("heap in use peaked at %d MiB", peak>>20)
	if got != filepath.Join(dir, "big.bin") || !bytes.Equal(fileSum(t, got), want) {
		t.Fatalf("downloaded %s differs", got)
	}
	fs, err := bob.Files(ctx)
	if err != nil || len(fs) != 1 || fs[0].Attachment.Path != got {
		t.Fatalf("files after download: %+v %v", fs, err)
	}
	// A second Download with no directory returns the verified file
	// without fetching.
	if again, err := bob.Download(ctx, m.ID, "", nil); err != nil || again != got {
		t.Fatalf("again: %s %v", again, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".hush-*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

// chunkProxy forwards to the server and records the chunk PUTs and GETs
// that succeeded. A request is counted in the generation it started in:
// one still running when take is called (its client gave up) does not
// land in the next generation's list.
type chunkProxy struct {
	mu   sync.Mutex
	gen  int
	puts []int64
	gets []int64
}

var chunkPath = regexp.MustCompile(`^/v1/blobs/[A-Za-z0-9_-]{22}/chunks/(\d+)$`)

func startProxy(t *testing.T, target string) (*chunkProxy, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &chunkProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // cancelled requests are expected
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		gen := p.gen
		p.mu.Unlock()
		rec := &statusWriter{ResponseWriter: w}
		rp.ServeHTTP(rec, r)
		m := chunkPath.FindStringSubmatch(r.URL.Path)
		if m == nil || rec.status >= 300 {
			return
		}
		k, _ := strconv.ParseInt(m[1], 10, 64)
		p.mu.Lock()
		defer p.mu.Unlock()
		if gen != p.gen {
			return
		}
		if r.Method == "PUT" {
			p.puts = append(p.puts, k)
		} else {
			p.gets = append(p.gets, k)
		}
	}))
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *chunkProxy) take() (puts, gets []int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	puts, gets, p.puts, p.gets = p.puts, p.gets, nil, nil
	p.gen++
	return puts, gets
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }
func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = 200
	}
	return s.ResponseWriter.Write(b)
}

func TestInterruptedTransfersResume(t *testing.T) {
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "server")
	srv, err := server.StartLocal(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	proxy, purl := startProxy(t, srv.HTTPURL())
	alice, bob := pair(t, purl)
	size := int64(20*transferPlain + 12345)
	n := transferChunks(paddedFileSize(size))
	src := filepath.Join(t.TempDir(), "report.pdf")
	want := writeRandomFile(t, src, size, 2)

	// The upload is cancelled after a few chunks.
	cctx, cancel := context.WithCancel(ctx)
	_, err = alice.SendFile(cctx, "bob", src, func(done, _ int64) {
		if done >= 5*transferPlain {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted upload: %v", err)
	}
	proxy.take()
	// What the server holds now (a chunk whose answer was lost to the
	// cancel may be stored too).
	first := storedChunks(t, dataDir)
	if len(first) < 5 || len(first) >= int(n) {
		t.Fatalf("first run stored %d of %d chunks", len(first), n)
	}
	// Running it again sends only the chunks the server lacks.
	if _, err := alice.SendFile(ctx, "bob", src, nil); err != nil {
		t.Fatal(err)
	}
	second, _ := proxy.take()
	// (A chunk whose PUT was still being stored when the first run
	// ended may be in neither list: the resume found it present.)
	stored := map[int64]int{}
	for _, k := range first {
		stored[k]++
	}
	for _, k := range second {
		if stored[k] > 0 {
			t.Errorf("chunk %d was uploaded again after the resume", k)
		}
		stored[k]++
	}
	if len(second) > int(n)-len(first) || len(storedChunks(t, dataDir)) != int(n) {
		t.Fatalf("resume sent %d chunks after %d of %d were stored", len(second), len(first), n)
	}

	// The download is cancelled after a few chunks: no file under the
	// final name, and the rerun fetches only what is missing.
	m := receiveFile(t, bob)
	dir := t.TempDir()
	cctx, cancel = context.WithCancel(ctx)
	_, err = bob.Download(cctx, m.ID, dir, func(done, _ int64) {
		if done >= 7*transferPlain {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted download: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.pdf")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a partial download is visible under the final name: %v", err)
	}
	_, gets1 := proxy.take()
	got, err := bob.Download(ctx, m.ID, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, gets2 := proxy.take()
	if len(gets2) >= int(n) || len(gets2) < int(n)-len(gets1) || gets2[0] < 7 {
		t.Fatalf("resumed download fetched %d chunks from %d, after %d in the first run", len(gets2), gets2[0], len(gets1))
	}
	if !bytes.Equal(fileSum(t, got), want) {
		t.Fatal("resumed download differs")
	}
}

// storedChunks lists the chunk indexes the server's database holds.
func storedChunks(t *testing.T, dataDir string) []int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "hush.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT idx FROM blob_chunks ORDER BY idx")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// editChunks changes the server's stored chunks of blob id in place,
// behind the server's back (as a hostile or broken server could).
// editChunks plays a malicious server: it rewrites the stored chunks of
// blob id (the chunk files of the SQLite store, and the hashes the store
// keeps to catch disk corruption), so the server serves the edited bytes
// and only the client's own checks stand in the way.
func editChunks(t *testing.T, srv *server.Server, dataDir, id string, edit func(chunks map[int64][]byte)) {
	t.Helper()
	dir := filepath.Join(dataDir, "hush.db-blobs", hex.EncodeToString([]byte(id)))
	chunks := map[int64][]byte{}
	for _, k := range []int64{0, 1, 2} {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprint(k)))
		if err != nil {
			t.Fatal(err)
		}
		chunks[k] = b
	}
	edit(chunks)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "hush.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for k, b := range chunks {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(k)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if _, err := db.Exec("UPDATE blob_chunks SET sha256 = ? WHERE blob_id = ? AND idx = ?", sum[:], id, k); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSecurityRegressionTamperedOrSwappedChunkRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(map[int64][]byte)
	}{
		{"tampered", func(c map[int64][]byte) { c[1][100] ^= 1 }},
		{"swapped", func(c map[int64][]byte) { c[0], c[1] = c[1], c[0] }},
		{"truncated", func(c map[int64][]byte) { c[2] = c[2][:len(c[2])-1] }},
		// Chunk 2 holds the file's last 777 bytes and 256 KiB of padding.
		{"padding tampered", func(c map[int64][]byte) { c[2][len(c[2])-100] ^= 1 }},
		{"padding cut", func(c map[int64][]byte) { c[2] = c[2][:len(c[2])-stream.EncryptedChunkSize] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dataDir := filepath.Join(t.TempDir(), "server")
			srv, err := server.StartLocal(ctx, dataDir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Shutdown(context.Background()) })
			alice, bob := pair(t, srv.HTTPURL())
			src := filepath.Join(t.TempDir(), "x.bin")
			writeRandomFile(t, src, 2*transferPlain+777, 3)
			if _, err := alice.SendFile(ctx, "bob", src, nil); err != nil {
				t.Fatal(err)
			}
			m := receiveFile(t, bob)
			editChunks(t, srv, dataDir, m.Attachment.BlobID, tc.edit)
			dir := t.TempDir()
			_, err = bob.Download(ctx, m.ID, dir, nil)
			if !errors.Is(err, ErrIntegrity) {
				t.Fatalf("download of a %s blob: %v", tc.name, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "x.bin")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a file appeared under the final name: %v", err)
			}
			if fs, _ := bob.Files(ctx); fs[0].Attachment.Path != "" {
				t.Fatal("the message is marked downloaded")
			}
		})
	}
}

func TestSecurityRegressionWrongDigestRefused(t *testing.T) {
	// The sender's digest is the last check: a file whose chunks all
	// authenticate but whose content is not what the message announced
	// is not exposed.
	ctx := context.Background()
	srv := startServer(t)
	alice, bob := pair(t, srv.HTTPURL())
	src := filepath.Join(t.TempDir(), "y.bin")
	writeRandomFile(t, src, 100_000, 4)
	if _, err := alice.SendFile(ctx, "bob", src, nil); err != nil {
		t.Fatal(err)
	}
	m := receiveFile(t, bob)
	r, err := bob.fileRecord(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	r.Attachment.SHA256[0] ^= 1
	if err := bob.saveRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := bob.Download(ctx, m.ID, dir, nil); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("got %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestMemoRoundTrip(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	alice, bob := pair(t, srv.HTTPURL())
	long := strings.Repeat("a long text that does not fit one message. ", 3000) // 132 KB
	short := strings.Repeat("s", MemoThreshold)
	sent, err := alice.Send(ctx, "bob", long)
	if err != nil {
		t.Fatal(err)
	}
	if sent.Attachment == nil || !sent.Attachment.Memo || sent.Text != long {
		t.Fatalf("sent %+v", sent.Attachment)
	}
	if _, err := alice.Send(ctx, "bob", short); err != nil {
		t.Fatal(err)
	}
	ms, err := bob.Sync(ctx)
	if err != nil || len(ms) != 2 {
		t.Fatalf("sync %d %v", len(ms), err)
	}
	if ms[0].Text != long || ms[0].Attachment == nil || !ms[0].Attachment.Memo {
		t.Fatalf("memo arrived as %d bytes, attachment %+v", len(ms[0].Text), ms[0].Attachment)
	}
	if ms[1].Text != short || ms[1].Attachment != nil {
		t.Fatal("a text at the threshold did not travel inline")
	}
	h, err := bob.History(ctx, "alice", 0)
	if err != nil || len(h) != 2 || h[0].Text != long {
		t.Fatalf("history %d %v", len(h), err)
	}
	if fs, err := bob.Files(ctx); err != nil || len(fs) != 0 {
		t.Fatalf("memos listed as files: %v %v", fs, err)
	}
	if _, err := alice.Send(ctx, "bob", strings.Repeat("x", MaxMemo+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized memo: %v", err)
	}
}

func TestFileMessageEncoding(t *testing.T) {
	h, _ := stream.NewHeader()
	a := &attachmentRecord{BlobID: "q1Zb3xS0m9kXo2Yl7Ww4bA", Key: bytes.Repeat([]byte{7}, 32), Header: h.Bytes(),
		Size: 123456, SHA256: bytes.Repeat([]byte{9}, 32), Name: "résumé.pdf"}
	enc := encodeFile(a)
	kind, body, err := decodeApp(enc)
	if err != nil || kind != appKindFile {
		t.Fatal(kind, err)
	}
	got, err := decodeFile(body)
	if err != nil {
		t.Fatal(err)
	}
	if got.BlobID != a.BlobID || !bytes.Equal(got.Key, a.Key) || got.Size != a.Size || got.Name != a.Name || got.Memo || got.Padded {
		t.Fatalf("round trip: %+v", got)
	}
	padded := *a
	padded.Padded = true
	if _, pbody, _ := decodeApp(encodeFile(&padded)); pbody[0] != fileFlagPadded {
		t.Fatalf("flags of a padded file: %#x", pbody[0])
	} else if got, err := decodeFile(pbody); err != nil || !got.Padded || got.streamSize() != paddedFileSize(a.Size) {
		t.Fatalf("padded round trip: %+v %v", got, err)
	}
	// Strict parsing: every truncation and any trailing byte is refused.
	for i := range len(body) {
		if _, err := decodeFile(body[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", i)
		}
	}
	if _, err := decodeFile(append(bytes.Clone(body), 0)); !errors.Is(err, wire.ErrTrailing) {
		t.Fatalf("trailing byte: %v", err)
	}
	mutate := func(f func(*attachmentRecord)) error {
		b := *a
		f(&b)
		_, body, _ := decodeApp(encodeFile(&b))
		_, err := decodeFile(body)
		return err
	}
	for _, bad := range []string{"../etc/passwd", "a/b", `a\b`, ".bashrc", "..", "a\x00b", "a\nb", " x", "\xff"} {
		if err := mutate(func(b *attachmentRecord) { b.Name = bad }); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	if err := mutate(func(b *attachmentRecord) { b.Memo, b.Size = true, MaxMemo+1 }); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("oversized memo: %v", err)
	}
	if err := mutate(func(b *attachmentRecord) { b.Size = MaxFileSize + 1 }); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("oversized file: %v", err)
	}
	bad := bytes.Clone(body)
	bad[0] = 0x04 // an unknown flag
	if _, err := decodeFile(bad); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("unknown flag: %v", err)
	}
	bad = bytes.Clone(body)
	bad[1+blobIDSize+stream.KeySize] = 0x02 // stream header version
	if _, err := decodeFile(bad); !errors.Is(err, wire.ErrVersion) {
		t.Errorf("stream version: %v", err)
	}
}

func TestSanitizeFileName(t *testing.T) {
	for in, want := range map[string]string{
		"/home/a/report.pdf":     "report.pdf",
		`C:\x\y.txt`:             "y.txt",
		"../../.ssh/id":          "id",
		".bashrc":                "bashrc",
		"...":                    "file",
		"a\x01b\xffc":            "a_b_c",
		strings.Repeat("é", 200): strings.Repeat("é", 127),
	} {
		got := sanitizeFileName(in)
		if got != want || !validFileName(got) {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDownloadNamesDoNotClobber(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	alice, bob := pair(t, srv.HTTPURL())
	src := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(src, []byte("new notes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendFile(ctx, "bob", src, nil); err != nil {
		t.Fatal(err)
	}
	m := receiveFile(t, bob)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := bob.Download(ctx, m.ID, dir, nil)
	if err != nil || got != filepath.Join(dir, "notes (1).txt") {
		t.Fatalf("%s %v", got, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "mine" {
		t.Fatal("an existing file was replaced")
	}
	if b, _ := os.ReadFile(got); string(b) != "new notes" {
		t.Fatalf("got %q", b)
	}
	// An empty file round-trips too.
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	if _, err := alice.SendFile(ctx, "bob", empty, nil); err != nil {
		t.Fatal(err)
	}
	m = receiveFile(t, bob)
	if got, err = bob.DownloadTo(ctx, m.ID, filepath.Join(dir, "e"), nil); err != nil || !sameSize(got, 0) {
		t.Fatalf("empty file: %s %v", got, err)
	}
}

// Regression (issue 8, item 14): a download stopped right after the file
// was moved into place, before the profile recorded it, used to fetch the
// file again under a new name. The name is recorded before the move, and
// the next download finds the file there.
func TestDownloadStoppedAfterTheMoveIsNotRepeated(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	alice, bob := pair(t, srv.HTTPURL())
	src := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(src, []byte("quarterly figures"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendFile(ctx, "bob", src, nil); err != nil {
		t.Fatal(err)
	}
	m := receiveFile(t, bob)
	dir := t.TempDir()
	got, err := bob.Download(ctx, m.ID, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// As if the download had stopped after the move: the path is not
	// recorded.
	r, err := bob.fileRecord(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	r.Attachment.Path = ""
	if err := bob.saveRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	again, err := bob.Download(ctx, m.ID, dir, nil)
	if err != nil || again != got {
		t.Fatalf("second download: %s %v, want %s", again, err, got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("the directory holds %d files, want the one download", len(ents))
	}
}
