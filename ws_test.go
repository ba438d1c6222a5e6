package hush

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A client told to reach the relay's broker over WebSocket (the server's
// /mqtt endpoint, what a browser uses) receives live messages there.
func TestListenOverWebSocket(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	wsURL := "ws://" + strings.TrimPrefix(srv.HTTPURL(), "http://") + "/mqtt"
	if err := bob.SetConfig(ctx, "mqtt", wsURL); err != nil {
		t.Fatal(err)
	}
	if got, _ := bob.mqttURL(ctx); got != wsURL {
		t.Fatalf("bob listens at %q, want %q", got, wsURL)
	}

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan Message, 8)
	done := make(chan error, 1)
	go func() {
		done <- bob.Listen(lctx, func(e Event) {
			if e.Message != nil {
				got <- *e.Message
			}
		})
	}()
	for i := range 3 {
		if _, err := alice.Send(ctx, "bob", fmt.Sprint("over ws ", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		select {
		case m := <-got:
			if m.Text != fmt.Sprint("over ws ", i) || m.From != "alice" {
				t.Fatalf("message %d: %+v", i, m)
			}
		case err := <-done:
			t.Fatalf("listen ended before message %d: %v", i, err)
		case <-time.After(20 * time.Second):
			t.Fatalf("message %d never arrived over WebSocket", i)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("listen: %v", err)
	}
}

// A WebSocket URL that is not an MQTT endpoint is reported as such, not
// as a hang or a protocol error.
func TestWebSocketURLThatIsNotMQTT(t *testing.T) {
	srv := startServer(t)
	bad := "ws://" + strings.TrimPrefix(srv.HTTPURL(), "http://") + "/nothing-here"
	_, err := dialMQTT(context.Background(), bad, mqttLogin{clientID: "x", clean: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "MQTT-over-WebSocket endpoint") {
		t.Fatalf("dial %s: %v", bad, err)
	}
}
