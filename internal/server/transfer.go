package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Defaults of the slow-client settings. With them a request and its
// answer may take transfer_timeout plus one second per min_transfer_rate
// bytes moved: a 4 MiB blob chunk gets 30 s + 512 s, a full 16 MiB
// mailbox page 30 s + 2048 s, an ordinary send 30 s + a fraction. A client
// slower than 8 KiB/s on average (64 kbit/s, a poor mobile link) is
// disconnected; one trickling bytes gets 30 s.
const (
	DefaultHeaderTimeout   = 10 * time.Second
	DefaultTransferTimeout = 30 * time.Second
	DefaultMinTransferRate = 8 << 10
	// DefaultIdleTimeout outlasts the 90 s for which Go clients (the hush
	// client among them) keep an idle connection: the client closes
	// first, so it never sends a request on a connection the server is
	// closing.
	DefaultIdleTimeout = 120 * time.Second
	DefaultMQTTMaxIdle = 10 * time.Minute
)

// writePiece is the most written under one deadline: a large answer is
// written in pieces, so a client must keep reading at the minimum rate
// instead of taking the whole allowance of the answer for its first
// bytes.
const writePiece = 64 << 10

// transferLimits is the minimum-rate rule: an exchange may take base plus
// one second per rate bytes moved (read and written).
type transferLimits struct {
	base time.Duration
	rate int64
}

// guard makes every request of h keep to l. It sets the connection's read
// and write deadlines through http.ResponseController and moves them on
// as bytes go through: before each body read to start + base + moved/rate
// (a client that stops sending misses it), before each written piece to
// the same plus the piece. The read deadline follows the write deadline so
// that the server's background read, which watches for a client hanging
// up while a long answer is written, does not time out first.
func (l transferLimits) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &exchange{l: l, rc: http.NewResponseController(w), start: time.Now()}
		x.extend(0)
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &guardedBody{ReadCloser: r.Body, x: x}
		}
		h.ServeHTTP(&guardedWriter{ResponseWriter: w, x: x}, r)
	})
}

// exchange is one request and its answer.
type exchange struct {
	l        transferLimits
	rc       *http.ResponseController
	start    time.Time
	moved    atomic.Int64
	hijacked atomic.Bool
}

// extend sets the deadlines for the bytes moved so far plus next.
func (x *exchange) extend(next int) {
	if x.hijacked.Load() {
		return // the connection belongs to the hijacker now
	}
	allowed := float64(x.moved.Load()+int64(next)) / float64(x.l.rate)
	d := x.start.Add(x.l.base + time.Duration(allowed*float64(time.Second)))
	_ = x.rc.SetReadDeadline(d)
	_ = x.rc.SetWriteDeadline(d)
}

type guardedBody struct {
	io.ReadCloser
	x *exchange
}

func (b *guardedBody) Read(p []byte) (int, error) {
	b.x.extend(0)
	n, err := b.ReadCloser.Read(p)
	b.x.moved.Add(int64(n))
	return n, err
}

// guardedWriter passes Flush, Hijack and Unwrap through.
type guardedWriter struct {
	http.ResponseWriter
	x *exchange
}

func (w *guardedWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		piece := p[:min(len(p), writePiece)]
		w.x.extend(len(piece))
		n, err := w.ResponseWriter.Write(piece)
		written += n
		w.x.moved.Add(int64(n))
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

func (w *guardedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *guardedWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Hijack hands the connection over (the MQTT WebSocket upgrade); its
// deadlines are the hijacker's from then on.
func (w *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.x.hijacked.Store(true)
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
