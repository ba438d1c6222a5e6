package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Default listen addresses: loopback only, on ports no common service owns
// (4874 spells "hush" on a phone keypad; MQTT's own 1883/8883 are avoided so
// a Mosquitto on the same machine does not collide).
const (
	DefaultListen     = "127.0.0.1:4874"
	DefaultMQTTListen = "127.0.0.1:4883"
)

// Config is everything `hush server` can be told, by flag, by environment
// variable (HUSH_SERVER_<KEY>, upper case) or in a TOML file. Flags win over
// the environment, which wins over the file.
type Config struct {
	Listen     string `toml:"listen"`      // HTTP address
	MQTTListen string `toml:"mqtt_listen"` // MQTT over TCP; MQTT over WebSocket is at /mqtt on the HTTP address
	DataDir    string `toml:"data"`        // server key, SQLite database
	DB         string `toml:"db"`          // "" = SQLite in DataDir; or postgres://…
	BaseURL    string `toml:"base_url"`    // public URL for e-mail links; default from Listen
	// MQTTPublicURL is the MQTT address clients should use (mqtt://host:port),
	// when it differs from the HTTP host with the MQTT listener's port.
	MQTTPublicURL string `toml:"mqtt_public_url"`

	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`

	SMTPAddr     string `toml:"smtp_addr"` // host:port; empty disables e-mail activation
	SMTPFrom     string `toml:"smtp_from"`
	SMTPUser     string `toml:"smtp_user"`
	SMTPPassword string `toml:"smtp_password"`

	AllowUsernameReuse bool     `toml:"allow_username_reuse"`
	TokenTTL           duration `toml:"token_ttl"`
	EnvelopeTTL        duration `toml:"envelope_ttl"`
	MailboxMaxCount    int64    `toml:"mailbox_max_count"`
	MailboxMaxBytes    int64    `toml:"mailbox_max_bytes"`
	MaxBlobSize        int64    `toml:"max_blob_size"`

	// MailboxSenderShare is the fraction of a mailbox's limits one sender
	// account may fill (default 0.25; 1 turns the share limit off).
	MailboxSenderShare float64 `toml:"mailbox_sender_share"`
	// AccountMaxCount and AccountMaxBytes bound what one account's
	// undelivered envelopes hold across all mailboxes (default 100,000
	// envelopes, 1 GiB).
	AccountMaxCount int64 `toml:"account_max_count"`
	AccountMaxBytes int64 `toml:"account_max_bytes"`

	// SendRate and SendBurst bound what one device may send: envelopes
	// per second, and the burst above that rate (token bucket).
	SendRate  float64 `toml:"send_rate"`
	SendBurst int     `toml:"send_burst"`
	LogLevel  string  `toml:"log_level"` // debug, info, warn, error

	// KeyPassphrase encrypts the server's signing key at rest. It is read
	// only from the environment (HUSH_SERVER_KEY_PASSPHRASE), never from a
	// file or a flag, so it does not end up in a config file or ps output.
	KeyPassphrase string `toml:"-"`
}

// duration is a time.Duration that reads "30m" from TOML and the
// environment.
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Defaults returns the configuration `hush server` uses with no flags.
func Defaults() Config {
	return Config{Listen: DefaultListen, MQTTListen: DefaultMQTTListen, DataDir: defaultDataDir(), LogLevel: "info"}
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "hush-server")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "hush-server")
	}
	return "hush-server-data"
}

// LoadFile merges a TOML file into c. Unknown keys are an error: a typo in
// a security setting must not be silently ignored.
func (c *Config) LoadFile(path string) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	return nil
}

// envKeys maps each setting to its environment variable.
var envKeys = []string{"listen", "mqtt_listen", "data", "db", "base_url", "mqtt_public_url", "tls_cert", "tls_key",
	"smtp_addr", "smtp_from", "smtp_user", "smtp_password", "allow_username_reuse", "token_ttl",
	"envelope_ttl", "mailbox_max_count", "mailbox_max_bytes", "max_blob_size", "send_rate", "send_burst", "log_level",
	"mailbox_sender_share", "account_max_count", "account_max_bytes"}

// LoadEnv merges HUSH_SERVER_* variables into c.
func (c *Config) LoadEnv(getenv func(string) string) error {
	var b strings.Builder
	for _, k := range envKeys {
		v := getenv("HUSH_SERVER_" + strings.ToUpper(k))
		if v == "" {
			continue
		}
		switch k {
		case "allow_username_reuse":
			if _, err := strconv.ParseBool(v); err != nil {
				return fmt.Errorf("HUSH_SERVER_%s: %w", strings.ToUpper(k), err)
			}
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		case "send_rate", "mailbox_sender_share":
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return fmt.Errorf("HUSH_SERVER_%s: %w", strings.ToUpper(k), err)
			}
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		case "mailbox_max_count", "mailbox_max_bytes", "max_blob_size", "send_burst", "account_max_count", "account_max_bytes":
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return fmt.Errorf("HUSH_SERVER_%s: %w", strings.ToUpper(k), err)
			}
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		default:
			fmt.Fprintf(&b, "%s = %q\n", k, v)
		}
	}
	c.KeyPassphrase = getenv("HUSH_SERVER_KEY_PASSPHRASE")
	if b.Len() == 0 {
		return nil
	}
	if _, err := toml.Decode(b.String(), c); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	return nil
}

// Validate checks the configuration before anything starts.
func (c *Config) Validate() error {
	var errs []error
	for name, addr := range map[string]string{"listen": c.Listen, "mqtt_listen": c.MQTTListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, addr, err))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert and tls_key go together"))
	}
	if c.SMTPAddr != "" && c.SMTPFrom == "" {
		errs = append(errs, errors.New("smtp_from is required with smtp_addr"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data directory is empty"))
	}
	if c.MailboxSenderShare < 0 || c.MailboxSenderShare > 1 {
		errs = append(errs, fmt.Errorf("mailbox_sender_share %v: want a fraction above 0, at most 1", c.MailboxSenderShare))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}
