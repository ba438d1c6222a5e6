package relay

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/sqlstore"
	"github.com/hush-chat/hush/internal/server/store"
)

// fakePages is a mailbox of equal envelopes read as the SQL store reads
// it: rows until limit or until the bytes read reach maxBytes. It counts
// the rows each read asked for but did not return, which the PostgreSQL
// driver receives and drops.
type fakePages struct {
	envs    []store.Envelope
	reads   int
	dropped int
}

func (f *fakePages) PendingPage(_ context.Context, _ string, after int64, limit, maxBytes int) ([]store.Envelope, error) {
	f.reads++
	var out []store.Envelope
	size, rows := 0, 0
	for _, e := range f.envs {
		if e.Seq <= after {
			continue
		}
		rows++
		if rows > limit {
			break
		}
		if size >= maxBytes {
			f.dropped++
			continue
		}
		out = append(out, e)
		size += len(e.Data)
	}
	return out, nil
}

func fakeMailbox(count, size int) *fakePages {
	f := &fakePages{}
	for i := range count {
		f.envs = append(f.envs, store.Envelope{Seq: int64(i + 1), Data: make([]byte, size)})
	}
	return f
}

// A list read asks the store for about as many rows as fit in a chunk,
// so that PostgreSQL does not send envelopes only to have them dropped,
// and a small backlog is read in one go.
func TestListReadsAskForRowsThatFit(t *testing.T) {
	for _, tc := range []struct {
		count, size, limit int
		maxReads           int
	}{
		{count: 5, size: 1400, limit: 200, maxReads: 1},
		{count: 3000, size: 1400, limit: 200, maxReads: 5},
		{count: 300, size: 64 << 10, limit: 1000, maxReads: 40},
		{count: 40, size: 1 << 20, limit: 1000, maxReads: 40},
	} {
		f := fakeMailbox(tc.count, tc.size)
		pg := &listPager{st: f, left: tc.limit, rows: min(tc.limit, listFirstRows), chunk: listChunk}
		lw := &listWriter{budget: proto.MaxListAnswer, size: listFraming}
		got := 0
	read:
		for {
			page, _ := pg.next(t.Context(), lw.room())
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				n := listedSize(listedEnvelope{Seq: e.Seq, Envelope: e.Data})
				if lw.size+n > lw.budget && got > 0 {
					break read
				}
				lw.size += n
				got++
			}
		}
		dropped := f.dropped * tc.size
		t.Logf("%d envelopes of %d bytes, limit %d: %d listed in %d reads, %d bytes asked for and dropped", tc.count, tc.size, tc.limit, got, f.reads, dropped)
		if f.reads > tc.maxReads {
			t.Errorf("%d reads, want at most %d", f.reads, tc.maxReads)
		}
		// Only the first read, before the relay knows how large the
		// envelopes are, may ask for rows that do not fit.
		if dropped > (listFirstRows-1)*tc.size {
			t.Errorf("%d bytes read from the store and dropped, want at most %d", dropped, (listFirstRows-1)*tc.size)
		}
	}
}

// failingPages fails every mailbox read after the first.
type failingPages struct {
	*sqlstore.DB
	reads int
}

func (f *failingPages) PendingPage(ctx context.Context, mailbox string, after int64, limit, maxBytes int) ([]store.Envelope, error) {
	if f.reads++; f.reads > 1 {
		return nil, errors.New("disk on fire")
	}
	return f.DB.PendingPage(ctx, mailbox, after, limit, maxBytes)
}

// A store failure after the answer has started ends it early but well
// formed: the client keeps what came and pages on; a failure before it
// started is an error answer.
func TestListStoreFailureMidAnswer(t *testing.T) {
	var fs *failingPages
	e := newEnv(t, Limits{}, func(c *Config) {
		fs = &failingPages{DB: c.Store.(*sqlstore.DB)}
		c.Store = fs
	})
	e.r.listChunk = 1000
	bob := e.device(t, "bob")
	for range 5 {
		if _, err := e.r.Submit(t.Context(), bob.mailbox, sealed(800)); err != nil {
			t.Fatal(err)
		}
	}
	var list listResponse
	if err := json.Unmarshal(e.getRaw(t, bob, "/v1/mailbox"), &list); err != nil || len(list.Envelopes) != 2 {
		t.Fatalf("answer cut by a store failure: %d envelopes, %v; want the 2 of the first read", len(list.Envelopes), err)
	}
	if st, code := e.call(t, bob, "GET", "/v1/mailbox?after="+itoa(list.Envelopes[1].Seq), "", nil, nil); st != http.StatusInternalServerError || code != "internal" {
		t.Fatalf("store failure before the answer: %d %s", st, code)
	}
}
