package hush

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Settings a profile keeps (SetConfig keys).
var settingKeys = []string{"server", "broker", "mqtt"}

// checkServerURL accepts http:// and https:// URLs with a host.
func checkServerURL(raw string) error {
	u, err := url.Parse(raw)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	return fmt.Errorf("server URL must start with http:// or https:// (e.g. %s)", suggest("http", raw, "127.0.0.1:4874"))
}

// checkMQTTURL accepts what dialMQTT can dial: mqtt:// or tcp://, mqtts://,
// ssl:// or tls://, with a host:port, or a WebSocket URL (ws://, wss://).
// The empty value (use the default) is accepted.
func checkMQTTURL(key, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err == nil {
		switch u.Scheme {
		case "mqtt", "mqtts", "tcp", "ssl", "tls":
			if host, port, err := net.SplitHostPort(u.Host); err == nil && host != "" && port != "" {
				return nil
			}
		case "ws", "wss": // MQTT over WebSocket: the port may be the scheme's default
			if u.Hostname() != "" {
				return nil
			}
		}
	}
	return fmt.Errorf("%s URL must be mqtt://, mqtts://, tcp://, ssl:// or tls:// with a host:port, or ws:// or wss:// (e.g. %s)",
		key, suggest("mqtt", raw, "127.0.0.1:1883"))
}

// suggest is an example URL for a mistaken one: the same host:port with
// the right scheme when one can be seen, else a default.
func suggest(scheme, raw, def string) string {
	hostport := def
	if u, err := url.Parse(raw); err == nil && u.Host != "" && u.Port() != "" {
		hostport = u.Host
	} else if !strings.Contains(raw, "://") && !strings.ContainsAny(raw, "/ ") {
		if _, port, err := net.SplitHostPort(raw); err == nil && port != "" {
			hostport = raw
		}
	}
	return scheme + "://" + hostport
}
