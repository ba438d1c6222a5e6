package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hush-chat/hush/internal/apiclient"
)

// watchClosed reads c until the server closes it and then signals done.
func watchClosed(c net.Conn, done *sync.WaitGroup) {
	go func() {
		defer done.Done()
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}()
}

// waitGroupFor waits for wg, failing the test if it is not done within
// closeWait.
func waitGroupFor(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(closeWait):
		t.Fatalf("the server did not close the %s", what)
	}
}

func goroutines() int {
	runtime.GC()
	return runtime.NumGoroutine()
}

// settleGoroutines waits until the goroutine count is at most want, and
// returns the last count seen.
func settleGoroutines(want int) int {
	deadline := time.Now().Add(closeWait)
	n := goroutines()
	for n > want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = goroutines()
	}
	return n
}

// Security regression (issue 9 item 4): 500 connections trickling a
// request body one byte at a time and 200 idle keep-alive connections were
// held open for ever (goroutines 16 → 716). The server must close all of
// them and return to its baseline.
func TestSlowClientsAreDisconnected(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	s := startSlowServer(t, nil)
	addr := s.httpLn.Addr().String()
	base := goroutines()

	var closed sync.WaitGroup
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	const tricklers, idlers = 500, 200
	for range tricklers {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /v1/users/lookup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{")
		closed.Add(1)
		watchClosed(c, &closed)
	}
	for range idlers {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("keep-alive healthz: %d close=%v", resp.StatusCode, resp.Close)
		}
		closed.Add(1)
		watchClosed(c, &closed)
	}
	peak := goroutines()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	// One goroutine trickles a byte into every body until the server
	// has closed them all.
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range conns[:tricklers] {
				_, _ = c.Write([]byte(" "))
			}
		}
	}()
	waitGroupFor(t, &closed, "slow connections")
	close(stop)
	after := settleGoroutines(base + 10)
	t.Logf("goroutines: baseline %d, with %d trickling and %d idle connections %d (%d of them the test's readers), after the server closed them %d; heap in use at peak %.1f MiB",
		base, tricklers, idlers, peak, tricklers+idlers, after, float64(ms.HeapInuse)/(1<<20))
	if after > base+10 {
		t.Fatalf("goroutines did not return to the baseline: %d → %d", base, after)
	}
}

// startSlowServer runs a server whose slow-client limits are short enough
// for a test, changed by mod if not nil.
func startSlowServer(t *testing.T, mod func(*Config)) *Server {
	t.Helper()
	cfg := Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.MetricsListen = "127.0.0.1:0"
	cfg.HeaderTimeout.Duration = 500 * time.Millisecond
	cfg.TransferTimeout.Duration = time.Second
	cfg.MinTransferRate = 1 << 20 // 1 MiB/s: the test's trickle of 10 bytes/s is far below
	cfg.IdleTimeout.Duration = time.Second
	cfg.MQTTMaxIdle.Duration = time.Second
	cfg.MaxConnsPerIP = 0
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// mqttConnect is an MQTT 3.1.1 CONNECT with a username and password.
func mqttConnect(user, pass string, keepalive uint16) []byte {
	str := func(v string) []byte { return append([]byte{byte(len(v) >> 8), byte(len(v))}, v...) }
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0xC2, byte(keepalive >> 8), byte(keepalive)}, str("c")...)
	body = append(append(body, str(user)...), str(pass)...)
	return append([]byte{0x10, byte(len(body))}, body...) // bodies here stay under 128 bytes
}

// tryMQTT connects to the MQTT listener from local, sends a CONNECT with
// bad credentials and reports whether a CONNACK came back (the connection
// was admitted) or the connection was closed first (refused).
func tryMQTT(t *testing.T, addr, local string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(mqttConnect("0123456789abcdef0123456789abcdef", "wrong", 30)); err != nil {
		return c, false
	}
	ack := make([]byte, 4)
	_, err = io.ReadFull(c, ack)
	return c, err == nil && ack[0] == 0x20
}

// tryHTTP sends GET /healthz on a new connection from local and reports
// whether it was answered.
func tryHTTP(t *testing.T, addr, local string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return c, false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, resp.StatusCode == 200
}

// Security regression (issue 9 item 4): one address could open any number
// of connections. Past max_conns_per_ip (HTTP, WebSocket and MQTT
// together) its new connections are closed at once; other addresses are
// not affected, and a closed connection frees its slot.
func TestConnectionsPerIPAreCapped(t *testing.T) {
	const limit = 50
	s := startSlowServer(t, func(c *Config) {
		c.MaxConnsPerIP = limit
		c.HeaderTimeout.Duration, c.IdleTimeout.Duration = time.Minute, time.Minute
	})
	httpAddr, mqttAddr := s.httpLn.Addr().String(), s.mqttAddr.String()
	var admitted, all []net.Conn
	try := func(f func(*testing.T, string, string) (net.Conn, bool), addr, local string) bool {
		c, ok := f(t, addr, local)
		all = append(all, c)
		return ok
	}
	refused := 0
	for range 80 {
		if c, ok := tryHTTP(t, httpAddr, "127.0.0.1"); ok {
			admitted = append(admitted, c)
		} else {
			refused++
		}
	}
	all = append(all, admitted...)
	t.Logf("80 keep-alive HTTP connections from one address, cap %d: %d admitted, %d closed at once", limit, len(admitted), refused)
	if len(admitted) != limit {
		t.Fatalf("%d connections admitted, cap %d", len(admitted), limit)
	}
	// The cap counts MQTT connections too.
	if try(tryMQTT, mqttAddr, "127.0.0.1") {
		t.Fatal("an MQTT connection over the cap was admitted")
	}
	if !try(tryHTTP, httpAddr, "127.0.0.2") {
		t.Fatal("another address was refused")
	}
	if !try(tryMQTT, mqttAddr, "127.0.0.2") {
		t.Fatal("another address was refused over MQTT")
	}
	// Closing connections frees their slots (once the server has seen
	// them close).
	for _, c := range admitted[:10] {
		c.Close()
	}
	deadline := time.Now().Add(closeWait)
	for {
		if try(tryHTTP, httpAddr, "127.0.0.1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("closed connections did not free their slots")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mc, ok := tryHTTP(t, httpAddr, "127.0.0.3")
	all = append(all, mc)
	if !ok {
		t.Fatal("healthz from a third address")
	}
	resp, err := http.Get(s.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if !bytes.Contains(b, []byte("hush_connections_refused_total")) {
		t.Fatal("no refusal metric")
	}
	// Every slot comes back when the connections are gone.
	for _, c := range all {
		c.Close()
	}
	deadline = time.Now().Add(closeWait)
	for s.conns.clients() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := s.conns.clients(); n > 0 {
		t.Fatalf("%d client addresses still hold slots", n)
	}
}

// Security regression (issue 9 item 4): MQTT connections, over WebSocket
// and TCP, that never send CONNECT, or that connect with keepalive 0 (no
// keepalive) and then fall silent, are closed: the first after
// header_timeout, the second after mqtt_max_idle.
func TestIdleMQTTConnectionsAreClosed(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	s := startSlowServer(t, nil)
	api := apiclient.New(s.HTTPURL(), nil)
	u := newUser(t, "idler")
	u.register(t, api, 0)
	sess, err := api.Login(context.Background(), u.name, u.dev)
	if err != nil {
		t.Fatal(err)
	}
	wsURL := "ws" + strings.TrimPrefix(s.HTTPURL(), "http") + "/mqtt"
	base := goroutines()
	var closed sync.WaitGroup
	dialWS := func() *websocket.Conn {
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}}
		ws, _, err := d.Dial(wsURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		return ws
	}
	const silent, keepaliveZero = 100, 3
	for range silent {
		ws := dialWS()
		closed.Add(1)
		watchClosed(ws.NetConn(), &closed)
	}
	for range keepaliveZero {
		ws := dialWS()
		if err := ws.WriteMessage(websocket.BinaryMessage, mqttConnect(sess.Mailbox, sess.Token, 0)); err != nil {
			t.Fatal(err)
		}
		if _, ack, err := ws.ReadMessage(); err != nil || len(ack) != 4 || ack[3] != 0 {
			t.Fatalf("websocket CONNACK %x, %v", ack, err)
		}
		closed.Add(1)
		go func() {
			defer closed.Done()
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		c, err := net.Dial("tcp", s.mqttAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.Write(mqttConnect(sess.Mailbox, sess.Token, 0))
		ack := make([]byte, 4)
		if _, err := io.ReadFull(c, ack); err != nil || ack[3] != 0 {
			t.Fatalf("TCP CONNACK %x, %v", ack, err)
		}
		closed.Add(1)
		watchClosed(c, &closed)
	}
	peak := goroutines()
	waitGroupFor(t, &closed, "idle MQTT connections")
	after := settleGoroutines(base + 10)
	t.Logf("goroutines: baseline %d, with %d silent WebSocket and %d keepalive-0 WebSocket+TCP MQTT connections %d, after the server closed them %d",
		base, silent, 2*keepaliveZero, peak, after)
	if after > base+10 {
		t.Fatalf("goroutines did not return to the baseline: %d → %d", base, after)
	}
}
