package cli

import (
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rogpeppe/go-internal/testscript"
)

// plainbroker starts an MQTT broker with no hush logic (any client, any
// topic), as a user's own Mosquitto would be, and sets $BROKER to its URL.
func cmdPlainBroker(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: plainbroker")
	}
	b := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	ts.Check(b.AddHook(new(allowAll), nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	addr := ln.Addr().String()
	ln.Close()
	ts.Check(b.AddListener(listeners.NewTCP(listeners.Config{ID: "plain", Address: addr})))
	go b.Serve()
	ts.Defer(func() { b.Close() })
	ts.Setenv("BROKER", "mqtt://"+addr)
}

// allowAll lets every client connect and use every topic.
type allowAll struct{ mqtt.HookBase }

func (allowAll) ID() string { return "allow-all" }
func (allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (allowAll) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }
