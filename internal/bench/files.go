package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/server"
)

// FilesOptions tunes `hush bench files`.
type FilesOptions struct {
	Size     int64 // file size in bytes (default 256 MiB)
	Progress func(string)
}

// FilesResult is the JSON object `hush bench files --json` prints.
type FilesResult struct {
	UploadMBps   float64 `json:"upload_mbps"`   // MB = 10^6 bytes of plaintext per second
	DownloadMBps float64 `json:"download_mbps"` // fetch, decrypt, verify, write
	SizeBytes    int64   `json:"size_bytes"`
	Cores        int     `json:"cores"`
}

// Files sends one file between two users through an in-process server
// (SQLite in a temporary directory) and times the upload (SendFile: read,
// hash, encrypt, upload) and the download (Download: fetch, decrypt,
// verify, write) separately. The file is generated before the clock
// starts, from a seeded generator.
func Files(ctx context.Context, o FilesOptions) (*FilesResult, error) {
	if o.Size <= 0 {
		o.Size = 256 << 20
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	dir, err := os.MkdirTemp("", "hush-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o.Progress("starting a server")
	cfg := server.Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", filepath.Join(dir, "server")
	// The per-account upload rate (50 MiB/s by default) would time the
	// server's limit, not the transfer pipeline.
	cfg.BlobUploadRate = 1 << 40
	srv, err := server.New(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		srv.Shutdown(context.WithoutCancel(ctx))
		return nil, err
	}
	defer srv.Shutdown(context.WithoutCancel(ctx))
	alice, bob, err := benchPair(ctx, dir, srv.HTTPURL())
	if err != nil {
		return nil, err
	}
	defer alice.Close()
	defer bob.Close()
	src := filepath.Join(dir, "file.bin")
	o.Progress(fmt.Sprintf("writing a %d MiB file", o.Size>>20))
	want, err := writeBenchFile(src, o.Size)
	if err != nil {
		return nil, err
	}
	o.Progress("uploading")
	t0 := time.Now()
	sent, err := alice.SendFile(ctx, "bob", src, nil)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	up := time.Since(t0)
	if _, err := bob.Sync(ctx); err != nil {
		return nil, err
	}
	o.Progress("downloading")
	t0 = time.Now()
	got, err := bob.Download(ctx, sent.ID, dir, nil)
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	down := time.Since(t0)
	if sum, err := fileSHA256(got); err != nil || string(sum) != string(want) {
		return nil, errors.Join(errors.New("the downloaded file differs"), err)
	}
	mb := float64(o.Size) / 1e6
	return &FilesResult{UploadMBps: mb / up.Seconds(), DownloadMBps: mb / down.Seconds(),
		SizeBytes: o.Size, Cores: runtime.GOMAXPROCS(0)}, nil
}

func benchPair(ctx context.Context, dir, url string) (alice, bob *hush.Client, err error) {
	mk := func(name string) (*hush.Client, error) {
		return hush.Create(ctx, hush.Options{Home: filepath.Join(dir, name), Passphrase: []byte("bench " + name),
			ServerURL: url}, name, "")
	}
	if alice, err = mk("alice"); err != nil {
		return nil, nil, err
	}
	if bob, err = mk("bob"); err != nil {
		alice.Close()
		return nil, nil, err
	}
	return alice, bob, nil
}

// writeBenchFile writes size bytes of seeded pseudo-random data (test
// contents, not secrets) and returns their SHA-256.
func writeBenchFile(path string, size int64) ([]byte, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{'h', 'u', 's', 'h'})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		src.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			return nil, err
		}
		left -= n
	}
	return h.Sum(nil), f.Close()
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	return h.Sum(nil), err
}
