package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

func newBlob(id string, size, chunk int64, recipients int, expires time.Time) store.Blob {
	return store.Blob{ID: id, Owner: "alice", Size: size, ChunkSize: chunk, Recipients: recipients, ExpiresAt: expires}
}

func testBlobs(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	exp := f.now.Now().Add(time.Hour)
	f.must(f.db.CreateBlob(f.ctx, newBlob("b1", 25, 10, 2, exp), store.BlobQuota{}))
	wantErr(t, "CreateBlob with a used id", f.db.CreateBlob(f.ctx, newBlob("b1", 1, 1, 1, exp), store.BlobQuota{}), store.ErrExists)
	wantErr(t, "CreateBlob with chunk size 0", f.db.CreateBlob(f.ctx, newBlob("b2", 1, 0, 1, exp), store.BlobQuota{}), ErrInvalid)

	b, err := f.db.GetBlob(f.ctx, "b1")
	f.must(err)
	if b.Owner != "alice" || b.Size != 25 || b.ChunkSize != 10 || b.Recipients != 2 || b.Fetched != 0 ||
		b.Complete || !b.ExpiresAt.Equal(exp) || !b.CreatedAt.Equal(f.now.Now()) {
		t.Fatalf("GetBlob = %+v", b)
	}
	_, err = f.db.GetBlob(f.ctx, "nope")
	wantErr(t, "GetBlob(unknown)", err, store.ErrNotFound)
	if got, err := f.db.ChunksPresent(f.ctx, "b1"); err != nil || len(got) != 0 {
		t.Fatalf("ChunksPresent of a new blob = %v, %v", got, err)
	}
	_, err = f.db.ChunksPresent(f.ctx, "nope")
	wantErr(t, "ChunksPresent(unknown)", err, store.ErrNotFound)

	chunks := [][]byte{randBytes(10), randBytes(10), randBytes(5)}
	wantErr(t, "short middle chunk", f.db.PutChunk(f.ctx, "b1", 1, randBytes(5)), ErrInvalid)
	wantErr(t, "long last chunk", f.db.PutChunk(f.ctx, "b1", 2, randBytes(10)), ErrInvalid)
	wantErr(t, "chunk past the end", f.db.PutChunk(f.ctx, "b1", 3, randBytes(10)), ErrInvalid)
	wantErr(t, "negative index", f.db.PutChunk(f.ctx, "b1", -1, randBytes(10)), ErrInvalid)
	wantErr(t, "chunk of an unknown blob", f.db.PutChunk(f.ctx, "nope", 0, randBytes(10)), store.ErrNotFound)

	f.must(f.db.PutChunk(f.ctx, "b1", 2, chunks[2]))
	f.must(f.db.PutChunk(f.ctx, "b1", 0, chunks[0]))
	got, err := f.db.ChunksPresent(f.ctx, "b1")
	f.must(err)
	if !slices.Equal(got, []int64{0, 2}) {
		t.Fatalf("ChunksPresent = %v, want [0 2]", got)
	}
	if b, _ := f.db.GetBlob(f.ctx, "b1"); b.Complete {
		t.Fatal("blob complete with a chunk missing")
	}
	_, err = f.db.GetChunk(f.ctx, "b1", 1)
	wantErr(t, "GetChunk of a missing chunk", err, store.ErrNotFound)
	f.must(f.db.PutChunk(f.ctx, "b1", 1, chunks[1]))
	if b, _ := f.db.GetBlob(f.ctx, "b1"); !b.Complete {
		t.Fatal("blob not complete with every chunk present")
	}
	for i, want := range chunks {
		c, err := f.db.GetChunk(f.ctx, "b1", int64(i))
		f.must(err)
		if !bytes.Equal(c, want) {
			t.Fatalf("chunk %d differs", i)
		}
	}

	// An empty blob has no chunks and is complete at once.
	f.must(f.db.CreateBlob(f.ctx, newBlob("empty", 0, 10, 1, exp), store.BlobQuota{}))
	if b, _ := f.db.GetBlob(f.ctx, "empty"); !b.Complete {
		t.Fatal("empty blob not complete")
	}
}

func testBlobChunkResend(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.must(f.db.CreateBlob(f.ctx, newBlob("b", 20, 10, 1, time.Time{}), store.BlobQuota{}))
	c0 := randBytes(10)
	f.must(f.db.PutChunk(f.ctx, "b", 0, c0))
	wantErr(t, "resending the same bytes", f.db.PutChunk(f.ctx, "b", 0, bytes.Clone(c0)), nil)
	wantErr(t, "resending other bytes", f.db.PutChunk(f.ctx, "b", 0, randBytes(10)), store.ErrExists)
	c, err := f.db.GetChunk(f.ctx, "b", 0)
	f.must(err)
	if !bytes.Equal(c, c0) {
		t.Fatal("a conflicting resend replaced the chunk")
	}
	// Resends must not count twice towards completion.
	if b, _ := f.db.GetBlob(f.ctx, "b"); b.Complete {
		t.Fatal("blob complete after resending its first chunk")
	}

	// Concurrent uploads of distinct chunks still complete the blob.
	const n = 16
	f.must(f.db.CreateBlob(f.ctx, newBlob("c", n*4, 4, 1, time.Time{}), store.BlobQuota{}))
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- f.db.PutChunk(context.Background(), "c", int64(i), randBytes(4)) }()
	}
	for range n {
		f.must(<-errs)
	}
	if b, _ := f.db.GetBlob(f.ctx, "c"); !b.Complete {
		t.Fatal("blob not complete after concurrent uploads")
	}
}

func testBlobFetchedAndExpiry(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	now := f.now.Now()
	f.must(f.db.CreateBlob(f.ctx, newBlob("b", 10, 10, 3, now.Add(time.Hour)), store.BlobQuota{}))
	f.must(f.db.PutChunk(f.ctx, "b", 0, randBytes(10)))
	for i := 1; i <= 3; i++ {
		c, err := f.db.MarkFetched(f.ctx, "b", fmt.Sprintf("user%d", i), 1)
		f.must(err)
		if !c.Counted || c.Repeat || c.Deleted != (i == 3) {
			t.Fatalf("MarkFetched #%d = %+v", i, c)
		}
		if i < 3 {
			if b, _ := f.db.GetBlob(f.ctx, "b"); b.Fetched != i {
				t.Fatalf("Fetched = %d, want %d", b.Fetched, i)
			}
		}
	}
	_, err := f.db.GetBlob(f.ctx, "b")
	wantErr(t, "GetBlob after the last fetch", err, store.ErrNotFound)
	_, err = f.db.GetChunk(f.ctx, "b", 0)
	wantErr(t, "GetChunk after the last fetch", err, store.ErrNotFound)
	_, err = f.db.MarkFetched(f.ctx, "b", "user4", 1)
	wantErr(t, "MarkFetched of a deleted blob", err, store.ErrNotFound)

	f.must(f.db.CreateBlob(f.ctx, newBlob("old", 10, 10, 1, now.Add(time.Hour)), store.BlobQuota{}))
	f.must(f.db.PutChunk(f.ctx, "old", 0, randBytes(10)))
	f.must(f.db.CreateBlob(f.ctx, newBlob("new", 10, 10, 1, now.Add(3*time.Hour)), store.BlobQuota{}))
	f.must(f.db.CreateBlob(f.ctx, newBlob("forever", 10, 10, 1, time.Time{}), store.BlobQuota{}))
	n, err := f.db.ExpireBlobs(f.ctx, now.Add(2*time.Hour))
	f.must(err)
	if n != 1 {
		t.Fatalf("ExpireBlobs = %d, want 1", n)
	}
	if _, err := f.db.GetChunk(f.ctx, "old", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("chunk of an expired blob: %v", err)
	}
	for _, id := range []string{"new", "forever"} {
		if _, err := f.db.GetBlob(f.ctx, id); err != nil {
			t.Fatalf("GetBlob(%s): %v", id, err)
		}
	}
}
