package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// guardedServer serves h behind the minimum-rate guard.
func guardedServer(t *testing.T, l transferLimits, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(l.guard(h))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

type result struct {
	n   int64
	err error
}

// A body that arrives at twice the minimum rate is read whole; one that
// stalls is cut off once it falls behind. The head start (3 s) covers a
// loaded machine pausing the sender.
func TestTransferGuardBodies(t *testing.T) {
	got := make(chan result, 1)
	addr := guardedServer(t, transferLimits{base: 3 * time.Second, rate: 256 << 10}, func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		got <- result{n, err}
	})
	send := func(size, piece int, every time.Duration) result {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
		buf := make([]byte, piece)
		go func() {
			for sent := 0; sent < size; sent += piece {
				if _, err := c.Write(buf); err != nil {
					return
				}
				time.Sleep(every)
			}
		}()
		select {
		case r := <-got:
			return r
		case <-time.After(closeWait):
			t.Fatal("the handler did not finish")
		}
		return result{}
	}
	// 1 MiB at 512 KiB/s: twice the minimum.
	if r := send(1<<20, 16<<10, 31*time.Millisecond); r.err != nil || r.n != 1<<20 {
		t.Fatalf("steady upload: %d bytes, %v", r.n, r.err)
	}
	// 16 KiB, then nothing: cut off after the head start and the 16 KiB's
	// allowance.
	if r := send(1<<20, 16<<10, time.Hour); r.err == nil {
		t.Fatalf("stalled upload read whole: %d bytes", r.n)
	} else {
		t.Logf("stalled upload cut after %d bytes: %v", r.n, r.err)
	}
}

// An answer to a client that stops reading is cut off: the handler's
// write fails instead of blocking for ever.
func TestTransferGuardStalledReader(t *testing.T) {
	got := make(chan result, 1)
	piece := make([]byte, 64<<10)
	const total = 256 << 20
	addr := guardedServer(t, transferLimits{base: 500 * time.Millisecond, rate: 1 << 20}, func(w http.ResponseWriter, r *http.Request) {
		var n int64
		for n < total {
			m, err := w.Write(piece)
			n += int64(m)
			if err != nil {
				got <- result{n, err}
				return
			}
		}
		got <- result{n, nil}
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case r := <-got:
		if r.err == nil {
			t.Fatalf("wrote %d bytes to a client that reads nothing", r.n)
		}
		t.Logf("answer to a client that stopped reading cut after %d bytes: %v", r.n, r.err)
	case <-time.After(closeWait):
		t.Fatal("the handler is still writing to a client that reads nothing")
	}
}

// A reader that keeps up with the minimum rate gets a large answer whole,
// written under many deadlines, on a connection that stays usable for the
// next request. The allowance is generous (a loaded machine may stall the
// test for seconds): what is checked is that moving the deadlines along
// never cuts a reader that keeps reading.
func TestTransferGuardFastReader(t *testing.T) {
	const total = 8 << 20
	addr := guardedServer(t, transferLimits{base: 30 * time.Second, rate: 64 << 10}, func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), total))
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for range 2 {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != total {
			t.Fatalf("read %d bytes: %v", n, err)
		}
	}
}
