package hush

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSettingURLsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		key, value, want string // want "" means accepted
	}{
		{"server", "http://127.0.0.1:4874", ""},
		{"server", "https://hush.example.org", ""},
		{"server", "127.0.0.1:4874", "(e.g. http://127.0.0.1:4874)"},
		{"server", "localhost:4874", "(e.g. http://localhost:4874)"},
		{"server", "ftp://host:21", "must start with http:// or https://"},
		{"server", "", "must start with http://"},
		{"mqtt", "", ""},
		{"mqtt", "mqtt://127.0.0.1:1883", ""},
		{"broker", "mqtts://broker.example.org:8883", ""},
		{"broker", "tcp://h:1", ""},
		{"mqtt", "mqtt://hostonly", "with a host:port"},
		{"mqtt", "http://127.0.0.1:1883", "(e.g. mqtt://127.0.0.1:1883)"},
		{"broker", "127.0.0.1:1883", "(e.g. mqtt://127.0.0.1:1883)"},
		{"mqtt", "ws://127.0.0.1:4874/mqtt", ""},
		{"broker", "wss://hush.example.org/mqtt", ""},
		{"mqtt", "ws:///mqtt", "or ws:// or wss://"},
	} {
		var err error
		if tc.key == "server" {
			err = checkServerURL(tc.value)
		} else {
			err = checkMQTTURL(tc.key, tc.value)
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %q refused: %v", tc.key, tc.value, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %q: error %v, want one containing %q", tc.key, tc.value, err, tc.want)
		}
	}
}

// Two receivers on one profile would split the messages between them:
// the second is refused while the first runs, and may start after it.
func TestSecondReceiverOnOneProfileIsRefused(t *testing.T) {
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	first := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	second, err := Open(ctx, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb")})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	got := make(chan Message, 1)
	go func() {
		done <- first.Listen(lctx, func(e Event) {
			if e.Message != nil {
				got <- *e.Message
			}
		})
	}()
	if _, err := alice.Send(ctx, "bob", "one"); err != nil {
		t.Fatal(err)
	}
	select { // a message arrived: the listener is receiving
	case <-got:
	case err := <-done:
		t.Fatalf("first Listen stopped: %v", err)
	case <-ctx.Done():
		t.Fatal("the first message never arrived")
	}
	if err := second.CheckReceive(); !errors.Is(err, ErrProfileBusy) {
		t.Fatalf("CheckReceive during Listen: %v, want ErrProfileBusy", err)
	}
	if _, err := second.Sync(ctx); !errors.Is(err, ErrProfileBusy) {
		t.Fatalf("Sync during Listen: %v, want ErrProfileBusy", err)
	}
	if err := second.Listen(ctx, func(Event) {}); !errors.Is(err, ErrProfileBusy) {
		t.Fatalf("second Listen: %v, want ErrProfileBusy", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("first Listen: %v", err)
	}
	if err := second.CheckReceive(); err != nil {
		t.Fatalf("CheckReceive after the listener stopped: %v", err)
	}
	if _, err := second.Sync(ctx); err != nil {
		t.Fatalf("Sync after the listener stopped: %v", err)
	}
}

// refusingBroker accepts MQTT connections and refuses every login with
// CONNACK reason 0x87 (not authorized), as a broker that is not the
// relay's would.
func refusingBroker(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, 4096)
				if _, err := conn.Read(buf); err != nil {
					return
				}
				conn.Write([]byte{0x20, 0x03, 0x00, 0x87, 0x00})
				conn.Read(buf) // until the client hangs up
			}()
		}
	}()
	return "mqtt://" + ln.Addr().String()
}

// A wrong mqtt setting makes Listen fail with a clear error instead of
// retrying silently for ever: a closed port, and a broker that refuses
// the login even with a fresh token.
func TestListenWithWrongMQTTAddressFails(t *testing.T) {
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	srv := startServer(t)
	bob := create(t, Options{Home: filepath.Join(t.TempDir(), "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "mqtt://" + closed.Addr().String()
	closed.Close()
	for _, mq := range []string{closedURL, refusingBroker(t)} {
		if err := bob.SetConfig(ctx, "mqtt", mq); err != nil {
			t.Fatal(err)
		}
		err := bob.Listen(ctx, func(Event) {})
		var ue *UnreachableError
		if !errors.As(err, &ue) || ue.URL != mq || ue.What != "MQTT broker" {
			t.Fatalf("Listen with mqtt %s: %v, want an UnreachableError for it", mq, err)
		}
		t.Logf("%s: %v", mq, err)
	}
	// Direct mode: the same for its broker.
	broker := refusingBroker(t)
	direct, err := Open(ctx, Options{Home: filepath.Join(filepath.Dir(bob.home), "b"), Passphrase: []byte("pb"), BrokerURL: broker})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	err = direct.Listen(ctx, func(Event) {})
	if ue := (*UnreachableError)(nil); !errors.As(err, &ue) || ue.URL != broker {
		t.Fatalf("direct Listen with a refusing broker: %v, want an UnreachableError for it", err)
	}
}
