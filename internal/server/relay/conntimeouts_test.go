package relay

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// A client that stops reading fails the relay's write at the write
// deadline instead of blocking the broker's writer for ever.
func TestTimedConnWriteDeadline(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	c := newTimedConn(server, ConnTimeouts{Connect: time.Minute, MaxIdle: time.Minute, Write: 100 * time.Millisecond, MinRate: 1 << 20})
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 1<<10)) // nobody reads the other end
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write to a client that does not read: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the write is still blocked")
	}
}

// A keepalive of 0 (no read deadline) or of hours is held to MaxIdle.
func TestTimedConnReadDeadlineCapped(t *testing.T) {
	for _, d := range []time.Time{{}, time.Now().Add(24 * time.Hour)} {
		server, client := net.Pipe()
		c := newTimedConn(server, ConnTimeouts{Connect: time.Minute, MaxIdle: 100 * time.Millisecond, Write: time.Second, MinRate: 1})
		_ = c.SetDeadline(d) // what the broker does from the keepalive
		done := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 1))
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("deadline %v: read ended with %v", d, err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("deadline %v: the read is still waiting", d)
		}
		client.Close()
	}
}
