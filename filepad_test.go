package hush

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/server"
	"github.com/hush-chat/hush/internal/stream"
)

// TestPaddedFileSizeVectors checks the padding rule against the vectors
// of doc/SPEC.md §11.1.
func TestPaddedFileSizeVectors(t *testing.T) {
	for _, v := range []struct{ size, padded, blob int64 }{
		{0, 4096, 4112},
		{1, 4096, 4112},
		{4096, 4096, 4112},
		{4097, 4608, 4624},
		{16384, 16384, 16400},
		{16385, 18432, 18448},
		{65536, 65536, 65552},
		{65537, 73728, 73760},
		{100_000, 106496, 106528},
		{1_000_000, 1048576, 1048832},
		{1048577, 1179648, 1179936},
		{10_000_000, 10485760, 10488320},
		{1_000_000_000, 1006632960, 1006878720},
		{1879048192, 1879048192, 1879506944},
		{1879048193, 2013265920, 2013757440},
		{2013265921, 2147483648, 2148007936},
		{MaxFileSize, MaxFileSize, MaxFileSize + 1<<28},
	} {
		p := paddedFileSize(v.size)
		if p != v.padded || blobSize(p) != v.blob {
			t.Errorf("size %d: padded %d, blob %d; want %d, %d", v.size, p, blobSize(p), v.padded, v.blob)
		}
	}
}

// TestPaddedFileSizeRule: the padded size is never smaller than the file,
// adds less than an eighth above 4 KiB, is a fixed point (a bucket pads
// to itself), and never decreases as files grow.
func TestPaddedFileSizeRule(t *testing.T) {
	prev := int64(0)
	check := func(n int64) {
		p := paddedFileSize(n)
		if p < n || p < minPaddedFile || (n > minPaddedFile && (p-n)*8 >= n) || paddedFileSize(p) != p || p < prev {
			t.Fatalf("paddedFileSize(%d) = %d (previous %d)", n, p, prev)
		}
		prev = p
	}
	for n := int64(0); n < 1<<18; n++ {
		check(n)
	}
	for n := int64(1 << 18); n < MaxFileSize; n += n/997 + 1 {
		check(n)
	}
	// 8 buckets per doubling: between 1 GiB and 2 GiB, 8 sizes.
	buckets := map[int64]bool{}
	for n := int64(1<<30) + 1; n <= 1<<31; n += 1 << 20 {
		buckets[paddedFileSize(n)] = true
	}
	if len(buckets) != 8 {
		t.Fatalf("%d buckets between 1 and 2 GiB", len(buckets))
	}
}

// TestPaddedFileRoundTrip sends files whose padding ends inside the
// file's last transfer chunk, fills a whole transfer chunk of its own, or
// is empty (the size is a bucket): the server sees only the bucket, the
// receiver gets exactly the file.
func TestPaddedFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	alice, bob := pair(t, srv.HTTPURL())
	for i, size := range []int64{0, 1, 5000, transferPlain + 1, 2 * transferPlain, 16*transferPlain + 1} {
		src := filepath.Join(t.TempDir(), "f.bin")
		want := writeRandomFile(t, src, size, uint64(10+i))
		sent, err := alice.SendFile(ctx, "bob", src, nil)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		m := receiveFile(t, bob)
		if r, err := bob.fileRecord(ctx, m.ID); err != nil || !r.Attachment.Padded || r.Attachment.Size != size {
			t.Fatalf("size %d: received %+v %v", size, m.Attachment, err)
		}
		st := blobStatus(t, bob, sent.Attachment.BlobID)
		if st.Size != blobSize(paddedFileSize(size)) {
			t.Fatalf("size %d: the server holds %d bytes, want %d", size, st.Size, blobSize(paddedFileSize(size)))
		}
		got, err := bob.Download(ctx, m.ID, t.TempDir(), nil)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if fi, _ := os.Stat(got); fi.Size() != size || !bytes.Equal(fileSum(t, got), want) {
			t.Fatalf("size %d: downloaded file differs", size)
		}
	}
}

func blobStatus(t *testing.T, c *Client, id string) *apiclient.BlobStatus {
	t.Helper()
	ctx := context.Background()
	bs := c.blobSession()
	var st *apiclient.BlobStatus
	if err := bs.do(ctx, func(tok string) (err error) { st, err = c.api.BlobStatus(ctx, tok, id); return err }); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSecurityNonZeroPaddingRefused: a sender (the only one who holds the
// file key) seals padding that is not zero; the stream authenticates, but
// the receiver refuses it, so a padded file has one encoding and padding
// cannot carry hidden data.
func TestSecurityNonZeroPaddingRefused(t *testing.T) {
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "server")
	srv, err := server.StartLocal(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	alice, bob := pair(t, srv.HTTPURL())
	src := filepath.Join(t.TempDir(), "x.bin")
	size := int64(2*transferPlain + 777)
	writeRandomFile(t, src, size, 3)
	sent, err := alice.SendFile(ctx, "bob", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := receiveFile(t, bob)
	a := sent.Attachment
	r, err := alice.fileRecord(ctx, sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	ciph, err := attachmentCipher(r.Attachment)
	if err != nil {
		t.Fatal(err)
	}
	padded := paddedFileSize(size)
	editChunks(t, srv, dataDir, a.BlobID, func(c map[int64][]byte) {
		plain, err := openTransfer(ciph, nil, 2, c[2], padded)
		if err != nil {
			t.Fatal(err)
		}
		plain[len(plain)-1] = 1 // the last byte of padding
		c[2] = sealTransfer(ciph, nil, 2, plain, stream.NumChunks(padded))
	})
	dir := t.TempDir()
	_, err = bob.Download(ctx, m.ID, dir, nil)
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "padding") {
		t.Fatalf("download with non-zero padding: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "x.bin")); len(left) != 0 {
		t.Fatal("a file appeared under the final name")
	}
}

// TestFileQuotaRefusalSaysWhatToDo: a file over the account's quota on
// the server is refused before anything is uploaded, with an error that
// names the limit and the way out.
func TestFileQuotaRefusalSaysWhatToDo(t *testing.T) {
	ctx := context.Background()
	srv := startServerWith(t, func(c *server.Config) { c.AccountBlobBytes = 4 << 20 })
	alice, bob := pair(t, srv.HTTPURL())
	src := filepath.Join(t.TempDir(), "a.bin")
	writeRandomFile(t, src, 3<<20, 1)
	if _, err := alice.SendFile(ctx, "bob", src, nil); err != nil {
		t.Fatal(err)
	}
	_, err := alice.SendFile(ctx, "bob", src, nil) // a second copy: 3 + 3 > 4 MiB
	if !errors.Is(err, ErrFileQuota) || !strings.Contains(err.Error(), "4 MiB") || !strings.Contains(err.Error(), "wait until recipients") {
		t.Fatalf("over quota: %v", err)
	}
	t.Logf("the user reads: %v", err)
	// Once bob fetched the first file, its bytes are free again.
	m := receiveFile(t, bob)
	if _, err := bob.Download(ctx, m.ID, t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendFile(ctx, "bob", src, nil); err != nil {
		t.Fatalf("after the recipient fetched: %v", err)
	}
}

// TestUploadWaitsOutTheRateLimit: an upload faster than the account may
// go is refused chunk by chunk with Retry-After; the client waits as told
// and the file arrives whole.
func TestUploadWaitsOutTheRateLimit(t *testing.T) {
	ctx := context.Background()
	// The burst takes the first 4 MiB chunk; the rest needs seconds of
	// refill at 512 KiB/s, far more than the first chunk takes to upload
	// even on a slow machine, so the server refuses it at least once.
	srv := startServerWith(t, func(c *server.Config) { c.BlobUploadRate, c.BlobUploadBurst = 512<<10, 4<<20 })
	var limited atomic.Int32
	gate := newStatusCounter(t, srv.HTTPURL(), http.StatusTooManyRequests, &limited)
	alice, bob := pair(t, gate)
	src := filepath.Join(t.TempDir(), "v.bin")
	want := writeRandomFile(t, src, 6<<20, 7)
	if _, err := alice.SendFile(ctx, "bob", src, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("chunk uploads refused for the rate and retried: %d", limited.Load())
	if limited.Load() == 0 {
		t.Fatal("the server never refused: the test did not exercise the rate limit")
	}
	m := receiveFile(t, bob)
	got, err := bob.Download(ctx, m.ID, t.TempDir(), nil)
	if err != nil || !bytes.Equal(fileSum(t, got), want) {
		t.Fatalf("download: %v", err)
	}
}

// newStatusCounter starts a proxy to target that counts the answers with
// status into n, and returns its URL.
func newStatusCounter(t *testing.T, target string, status int, n *atomic.Int32) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w}
		rp.ServeHTTP(rec, r)
		if rec.status == status {
			n.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestTooManyUploadsRefusalAndResume: with one unfinished upload allowed,
// an interrupted upload blocks a second file with a clear error; running
// the interrupted one again resumes it (no new blob), after which the
// second goes through.
func TestTooManyUploadsRefusalAndResume(t *testing.T) {
	ctx := context.Background()
	srv := startServerWith(t, func(c *server.Config) { c.AccountBlobUploads = 1 })
	alice, _ := pair(t, srv.HTTPURL())
	first, second := filepath.Join(t.TempDir(), "1.bin"), filepath.Join(t.TempDir(), "2.bin")
	writeRandomFile(t, first, 6*transferPlain, 1)
	writeRandomFile(t, second, 1000, 2)
	cctx, cancel := context.WithCancel(ctx)
	_, err := alice.SendFile(cctx, "bob", first, func(done, _ int64) {
		if done >= 2*transferPlain {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted upload: %v", err)
	}
	_, err = alice.SendFile(ctx, "bob", second, nil)
	if !errors.Is(err, ErrTooManyUploads) || !strings.Contains(err.Error(), "running its send again") {
		t.Fatalf("second upload: %v", err)
	}
	t.Logf("the user reads: %v", err)
	if _, err := alice.SendFile(ctx, "bob", first, nil); err != nil {
		t.Fatalf("resuming the first: %v", err)
	}
	if _, err := alice.SendFile(ctx, "bob", second, nil); err != nil {
		t.Fatalf("second upload after the first finished: %v", err)
	}
}

func TestBlobRecipientsNameOnlyMultiDeviceAccounts(t *testing.T) {
	r := newBlobRecipients([]string{"bob", "carol", "bob", "dave", "bob"})
	if r.Total != 5 || len(r.Multi) != 1 || r.Multi["bob"] != 3 {
		t.Fatalf("%+v", r)
	}
	if r := newBlobRecipients([]string{"bob"}); r.Total != 1 || r.Multi != nil {
		t.Fatalf("one device: %+v", r)
	}
}
