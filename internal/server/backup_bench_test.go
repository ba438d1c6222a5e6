package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/sqlstore"
	"github.com/hush-chat/hush/internal/server/store"
)

// BenchmarkBackup copies a deployment of 20,000 envelopes of 1 KiB and
// 64 MiB of attachment chunks (16 blobs of 4 chunks of 1 MiB): the cost of
// hush server backup per run, reported in MB/s of data copied.
func BenchmarkBackup(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	if _, err := WriteNewKeyFile(filepath.Join(dir, serverKeyFile), nil); err != nil {
		b.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(dir, "hush.db"))
	if err != nil {
		b.Fatal(err)
	}
	const envelopes, envSize = 20_000, 1 << 10
	for i := 0; i < envelopes; i += 500 {
		batch := make([]store.NewEnvelope, 500)
		for j := range batch {
			data := make([]byte, envSize)
			rand.Read(data)
			batch[j] = store.NewEnvelope{Mailbox: fmt.Sprintf("mb%03d", (i+j)%100), Data: data, ExpiresAt: time.Now().Add(time.Hour)}
		}
		if _, err := db.AppendEnvelopes(ctx, batch, store.MailboxLimits{}); err != nil {
			b.Fatal(err)
		}
	}
	const blobs, chunks, chunkSize = 16, 4, 1 << 20
	chunk := make([]byte, chunkSize)
	for i := range blobs {
		id := fmt.Sprintf("blob%02d", i)
		if err := db.CreateBlob(ctx, store.Blob{ID: id, Owner: "alice", Size: chunks * chunkSize, ChunkSize: chunkSize, Recipients: 1,
			ExpiresAt: time.Now().Add(time.Hour)}, store.BlobQuota{}); err != nil {
			b.Fatal(err)
		}
		for k := range chunks {
			rand.Read(chunk)
			if err := db.PutChunk(ctx, id, int64(k), chunk); err != nil {
				b.Fatal(err)
			}
		}
	}
	db.Close()
	cfg := Defaults()
	cfg.DataDir = dir
	b.SetBytes(envelopes*envSize + blobs*chunks*chunkSize)
	for i := 0; b.Loop(); i++ {
		res, err := Backup(ctx, cfg, filepath.Join(b.TempDir(), fmt.Sprint(i)))
		if err != nil {
			b.Fatal(err)
		}
		if res.Chunks != blobs*chunks {
			b.Fatalf("copied %d chunks", res.Chunks)
		}
	}
}
