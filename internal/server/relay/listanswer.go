package relay

import (
	"bufio"
	"context"
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/hush-chat/hush/internal/server/store"
)

// A GET /v1/mailbox answer is streamed: the relay reads the mailbox from
// the store a chunk at a time and writes each envelope out before reading
// the next chunk, so a list request holds about listChunk bytes of
// envelopes (plus one envelope) however large its answer, and a client
// that reads slowly holds no more than that, and no store connection.
const (
	// listChunk is how many envelope bytes one store read returns (the
	// envelope that reaches it included).
	listChunk = 1 << 20
	// listFirstRows is the row limit of a request's first store read.
	// Later reads ask for twice as many rows while reads come back whole,
	// or as many as the last read held when its byte limit ended it: the
	// PostgreSQL driver receives (and drops) every row a read asked for,
	// so asking for far more rows than fit would move envelopes out of
	// the database for nothing. Only the first read of a mailbox of large
	// envelopes drops some (at most listFirstRows-1).
	listFirstRows = 16
	// listWriteBuffer is the buffer between the answer and the
	// connection.
	listWriteBuffer = 32 << 10
)

// pageReader is the store call a list request makes.
type pageReader interface {
	PendingPage(ctx context.Context, mailbox string, afterSeq int64, limit, maxBytes int) ([]store.Envelope, error)
}

// listPager reads a mailbox in chunks for one list request.
type listPager struct {
	st      pageReader
	mailbox string
	after   int64
	left    int // rows the answer may still hold
	rows    int // row limit of the next read
	chunk   int
	done    bool
}

// next reads the next chunk, at most maxBytes of envelopes (the one
// reaching it included); nil when the mailbox has no more.
func (pg *listPager) next(ctx context.Context, maxBytes int) ([]store.Envelope, error) {
	if pg.done || pg.left <= 0 {
		return nil, nil
	}
	maxBytes = max(1, min(maxBytes, pg.chunk))
	n := min(pg.rows, pg.left)
	envs, err := pg.st.PendingPage(ctx, pg.mailbox, pg.after, n, maxBytes)
	if err != nil {
		return nil, err
	}
	size := 0
	for _, e := range envs {
		size += len(e.Data)
	}
	switch {
	case len(envs) < n && size < maxBytes:
		pg.done = true // the mailbox holds no more
	case size < maxBytes:
		pg.rows = min(2*n, maxListLimit)
	default:
		pg.rows = max(1, len(envs)) // as many as fitted in this read
	}
	if len(envs) > 0 {
		pg.after = envs[len(envs)-1].Seq
		pg.left -= len(envs)
	}
	return envs, nil
}

// listWriter writes a GET /v1/mailbox answer exactly as encoding/json
// writes a listResponse (listedSize counts it), envelope by envelope.
type listWriter struct {
	bw      *bufio.Writer
	budget  int // bytes the answer may hold
	size    int // bytes counted so far, as listedSize counts them
	count   int
	scratch [4096]byte // base64 output; a multiple of 4
}

func newListWriter(w http.ResponseWriter, budget int) *listWriter {
	return &listWriter{bw: bufio.NewWriterSize(w, listWriteBuffer), budget: budget, size: listFraming}
}

// room is how many more envelope bytes the answer could hold at best
// (base64 alone makes them a third larger).
func (lw *listWriter) room() int {
	return (lw.budget-lw.size)/4*3 + 3
}

func (lw *listWriter) start() { lw.bw.WriteString(`{"envelopes":[`) }

// add writes e if it fits in the budget (the first envelope always does)
// and reports whether it did.
func (lw *listWriter) add(e store.Envelope) bool {
	le := listedEnvelope{Seq: e.Seq, Envelope: e.Data, StoredAt: e.StoredAt.Unix()}
	n := listedSize(le)
	if lw.count > 0 && lw.size+n > lw.budget {
		return false
	}
	lw.size += n
	if lw.count > 0 {
		lw.bw.WriteByte(',')
	}
	lw.count++
	num := lw.scratch[:0]
	lw.bw.WriteString(`{"seq":`)
	lw.bw.Write(strconv.AppendInt(num, le.Seq, 10))
	lw.bw.WriteString(`,"envelope":"`)
	const step = len(lw.scratch) / 4 * 3
	for data := le.Envelope; len(data) > 0; {
		in := data[:min(step, len(data))]
		data = data[len(in):]
		out := lw.scratch[:base64.StdEncoding.EncodedLen(len(in))]
		base64.StdEncoding.Encode(out, in)
		lw.bw.Write(out)
	}
	lw.bw.WriteString(`","stored_at":`)
	lw.bw.Write(strconv.AppendInt(num, le.StoredAt, 10))
	lw.bw.WriteByte('}')
	return true
}

// finish closes the answer and sends what is buffered; its error is the
// first write error (a client that went away).
func (lw *listWriter) finish() error {
	lw.bw.WriteString("]}\n")
	return lw.bw.Flush()
}

// writeList answers a GET /v1/mailbox for mailbox, streamed. An error
// before the first byte is returned for the caller to answer; one later
// ends the answer early (still well formed: the client pages on with
// after=<last seq> and meets the error there).
func (r *Relay) writeList(w http.ResponseWriter, req *http.Request, mailbox string, after int64, limit int) error {
	ctx := req.Context()
	pg := &listPager{st: r.st, mailbox: mailbox, after: after, left: limit, rows: min(limit, listFirstRows), chunk: r.listChunk}
	lw := newListWriter(w, r.listBudget)
	page, err := pg.next(ctx, lw.room())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	lw.start()
	for len(page) > 0 {
		for _, e := range page {
			if !lw.add(e) {
				_ = lw.finish()
				return nil
			}
		}
		page = nil // collectable while the next chunk is read
		if lw.bw.Flush() != nil {
			return nil // the client went away
		}
		if page, err = pg.next(ctx, lw.room()); err != nil {
			if ctx.Err() == nil {
				r.log.Warn("relay: mailbox list ended early", "error", err)
			}
			break
		}
	}
	_ = lw.finish() // a write error is a client that went away: nothing to answer
	return nil
}
