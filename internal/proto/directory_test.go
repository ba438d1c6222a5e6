package proto

import (
	"errors"
	"strings"
	"testing"
)

// A username is never read as a command-line flag: it starts with a
// letter or digit.
func TestValidUsername(t *testing.T) {
	for name, want := range map[string]bool{
		"alice": true, "bob_2": true, "a-b": true, "007": true, "x-_": true,
		"ab": false, "-dash": false, "_under": false, "--help": false, "Alice": false,
		"al ce": false, "thirty-three-characters-long-name": false, "thirty-two-characters-long-name1": true,
	} {
		if got := ValidUsername(name); got != want {
			t.Errorf("ValidUsername(%q) = %v, want %v", name, got, want)
		}
	}
}

// A published broker is mqtt(s)://host:port and nothing else: no
// credentials (everything published is public), no path or query that
// would carry data past the check.
func TestCheckDelivery(t *testing.T) {
	for _, c := range []struct{ delivery, broker, want string }{
		{"", "", ""},
		{DeliveryRelay, "", ""},
		{DeliveryDirect, "mqtt://b.example:1883", "mqtt://b.example:1883"},
		{DeliveryDirect, "mqtts://b.example:8883", "mqtts://b.example:8883"},
		{DeliveryDirect, "ws://b.example:8080/mqtt", "ws://b.example:8080/mqtt"},
		{DeliveryDirect, "wss://b.example/mqtt", "wss://b.example/mqtt"},
	} {
		got, err := CheckDelivery(c.delivery, c.broker)
		if err != nil || got != c.want {
			t.Errorf("CheckDelivery(%q, %q) = %q, %v; want %q", c.delivery, c.broker, got, err, c.want)
		}
	}
	for _, c := range []struct{ delivery, broker string }{
		{"carrier-pigeon", ""},
		{DeliveryRelay, "mqtt://b.example:1883"},
		{DeliveryDirect, ""},
		{DeliveryDirect, "http://b.example:1883"},
		{DeliveryDirect, "mqtt://user:secret@b.example:1883"},
		{DeliveryDirect, "mqtt://b.example:1883/topic"},
		{DeliveryDirect, "mqtt://b.example:1883?x=1"},
		{DeliveryDirect, "mqtt://"},
		{DeliveryDirect, "ws://b.example/mqtt?token=1"},
		{DeliveryDirect, "wss://user:pw@b.example/mqtt"},
		{DeliveryDirect, "ws://b.example/m%20qtt"},
		{DeliveryDirect, "ws:///mqtt"},
		{DeliveryDirect, "mqtt://b.example/" + strings.Repeat("a", MaxBrokerURL)},
	} {
		if _, err := CheckDelivery(c.delivery, c.broker); !errors.Is(err, ErrBadDelivery) {
			t.Errorf("CheckDelivery(%q, %q): %v, want ErrBadDelivery", c.delivery, c.broker, err)
		}
	}
}
