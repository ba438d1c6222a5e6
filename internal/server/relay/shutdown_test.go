package relay

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"
	"github.com/hush-chat/hush/internal/wsconn"
)

// Closing the relay while clients connect and disconnect on both
// listeners returns: the broker's own way of closing a listener's clients
// took its client table's read lock twice, and a client leaving between
// the two (waiting for the write lock) stopped all three for good.
func TestCloseWhileClientsComeAndGo(t *testing.T) {
	for round := range 8 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			e := newEnvOn(t, "sqlite://"+filepath.Join(t.TempDir(), "hush.db"), Limits{})
			devs := make([]device, 12)
			for i := range devs {
				devs[i] = e.device(t, fmt.Sprintf("user%d", i))
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var connected atomic.Int64
			for i, d := range devs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if comeAndGo(e, d, i%2 == 0) {
							connected.Add(1)
						}
					}
				}()
			}
			for connected.Load() < int64(len(devs)) {
				time.Sleep(5 * time.Millisecond) // clients are coming and going
			}
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				done <- e.r.Close(ctx)
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Close while clients came and went: %v", err)
				}
			case <-time.After(2 * time.Minute):
				t.Fatal("Close did not return while clients came and went")
			}
			close(stop)
			wg.Wait()
		})
	}
}

// comeAndGo connects d over TCP or WebSocket and disconnects, and reports
// whether the relay accepted it; any error (the relay is closing) just
// ends the attempt.
func comeAndGo(e *testEnv, d device, ws bool) bool {
	var c net.Conn
	var err error
	if ws {
		dl := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: waitTimeout}
		var wc *websocket.Conn
		if wc, _, err = dl.Dial(e.wsURL, nil); err == nil {
			c = packets.NewThreadSafeConn(wsconn.New(wc))
		}
	} else {
		c, err = net.Dial("tcp", e.mqtt)
	}
	if err != nil {
		return false
	}
	defer c.Close()
	cl := paho.NewClient(paho.ClientConfig{Conn: c})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cp := &paho.Connect{KeepAlive: 30, CleanStart: true, Username: d.mailbox, UsernameFlag: true,
		Password: []byte(d.token), PasswordFlag: true}
	if _, err := cl.Connect(ctx, cp); err != nil {
		return false
	}
	_ = cl.Disconnect(&paho.Disconnect{})
	return true
}
