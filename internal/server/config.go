package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hush-chat/hush/internal/server/directory"
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
	// AccountBlobBytes and AccountBlobUploads bound one account's blobs:
	// the declared bytes of those not yet fetched or expired, and how many
	// are not completely uploaded. BlobUploadRate and BlobUploadBurst
	// bound its chunk uploads (bytes per second, token bucket).
	AccountBlobBytes   int64 `toml:"account_blob_bytes"`
	AccountBlobUploads int   `toml:"account_blob_uploads"`
	BlobUploadRate     int64 `toml:"blob_upload_rate"`
	BlobUploadBurst    int64 `toml:"blob_upload_burst"`

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
	// AccountSendRate and AccountSendBurst bound what all the devices of
	// one account send together (default twice send_rate, four times
	// send_burst). MaxConnectionsPerDevice caps one device's MQTT
	// connections (default 4); MailboxListConcurrency its GET
	// /v1/mailbox requests running at once (default 2). Zero: default.
	AccountSendRate         float64 `toml:"account_send_rate"`
	AccountSendBurst        int     `toml:"account_send_burst"`
	MaxConnectionsPerDevice int     `toml:"max_connections_per_device"`
	MailboxListConcurrency  int     `toml:"mailbox_list_concurrency"`

	// Directory limits (doc/API.md §2.1; zero: the directory's defaults):
	// bundle fetches of one logged-in account (per second, burst), the
	// one-time prekey hand-outs (one per requester and device per period;
	// at most prekey_device_max per device and window), and the signed
	// requests remembered per account.
	BundleRate               float64  `toml:"bundle_rate"`
	BundleBurst              int      `toml:"bundle_burst"`
	PreKeyRequesterPeriod    duration `toml:"prekey_requester_period"`
	PreKeyDeviceMax          int      `toml:"prekey_device_max"`
	PreKeyDeviceWindow       duration `toml:"prekey_device_window"`
	SignedRequestsPerAccount int      `toml:"signed_requests_per_account"`

	// Who may register and how fast (doc/API.md §2.17).
	Registration                 string   `toml:"registration"`                     // open (default), invite or closed
	RegistrationsPerIPHour       int      `toml:"registrations_per_ip_hour"`        // 0: 30; negative: no limit
	ActivationMailsPerAddressDay int      `toml:"activation_mails_per_address_day"` // 0: 3; negative: no limit
	UserInvites                  int      `toml:"user_invites"`                     // invites each user may issue; 0: none
	TrustedProxies               []string `toml:"trusted_proxies"`                  // whose X-Forwarded-For names the client

	// Slow and idle clients (doc/API.md §1.1). Zero durations and rates
	// take the defaults.
	HeaderTimeout   duration `toml:"header_timeout"`    // to send request headers, or an MQTT CONNECT
	TransferTimeout duration `toml:"transfer_timeout"`  // base time of a request and its answer, or an MQTT packet write
	MinTransferRate int64    `toml:"min_transfer_rate"` // bytes/s a transfer must average beyond TransferTimeout
	IdleTimeout     duration `toml:"idle_timeout"`      // a keep-alive HTTP connection between requests
	MQTTMaxIdle     duration `toml:"mqtt_max_idle"`     // an MQTT connection without a packet, whatever its keepalive
	// MaxConnsPerIP caps the open connections (HTTP, WebSocket and MQTT
	// together) from one IPv4 address or IPv6 /64; 0 disables it. Behind
	// a reverse proxy every client is the proxy.
	MaxConnsPerIP int `toml:"max_conns_per_ip"`

	// Login challenges (doc/API.md §3): per client address, per client
	// address and device, and unanswered per device. Zero takes the
	// default.
	ChallengeRate           float64 `toml:"challenge_rate"`
	ChallengeBurst          int     `toml:"challenge_burst"`
	ChallengeDeviceRate     float64 `toml:"challenge_device_rate"`
	ChallengeDeviceBurst    int     `toml:"challenge_device_burst"`
	ChallengeMaxOutstanding int     `toml:"challenge_max_outstanding"`

	// Key backups (doc/API.md §2.19): the OPRF evaluations (passphrase
	// guesses) one account gets per window before it is locked (default
	// 10 per 24h), and the largest backup (default 16 MiB). Zero takes
	// the default.
	BackupEvaluations int      `toml:"backup_evaluations"`
	BackupWindow      duration `toml:"backup_window"`
	MaxBackupSize     int64    `toml:"max_backup_size"`

	// SigningKey is a key file (from hush server keygen) that every
	// instance of a deployment signs with; empty: server.key in DataDir,
	// made on first start. The database records the key it was first
	// used with, and a server with another key refuses to start.
	SigningKey string `toml:"signing_key"`
	// LogFormat is text (default) or json (one JSON object a line).
	LogFormat string `toml:"log_format"`
	// MetricsListen is the address of the Prometheus /metrics listener;
	// empty: no metrics. Metrics are never on the API listener.
	MetricsListen string `toml:"metrics_listen"`

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

// DefaultMaxConnsPerIP is the default of max_conns_per_ip: far above what
// one person's devices open, well below what exhausts the server.
const DefaultMaxConnsPerIP = 256

// Defaults returns the configuration `hush server` uses with no flags.
func Defaults() Config {
	return Config{Listen: DefaultListen, MQTTListen: DefaultMQTTListen, DataDir: defaultDataDir(), LogLevel: "info",
		MaxConnsPerIP: DefaultMaxConnsPerIP}
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

// envSetting is one setting that an environment variable can set: its
// TOML key and the kind of value it holds.
type envSetting struct {
	key  string
	kind reflect.Kind
}

// envSettings lists every TOML key of Config, so a new setting is
// settable from the environment (HUSH_SERVER_<KEY>) without a second list.
var envSettings = func() []envSetting {
	t := reflect.TypeFor[Config]()
	var out []envSetting
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("toml")
		if key == "" || key == "-" {
			continue
		}
		kind := f.Type.Kind()
		if f.Type == reflect.TypeFor[duration]() {
			kind = reflect.String // "30m", parsed by duration.UnmarshalText
		}
		out = append(out, envSetting{key: key, kind: kind})
	}
	return out
}()

// LoadEnv merges HUSH_SERVER_* variables into c.
func (c *Config) LoadEnv(getenv func(string) string) error {
	var b strings.Builder
	for _, s := range envSettings {
		name := "HUSH_SERVER_" + strings.ToUpper(s.key)
		v := getenv(name)
		if v == "" {
			continue
		}
		var err error
		want := "a whole number"
		switch s.kind {
		case reflect.Bool:
			_, err = strconv.ParseBool(v)
			want = "true or false"
		case reflect.Int, reflect.Int64:
			_, err = strconv.ParseInt(v, 10, 64)
		case reflect.Float64:
			_, err = strconv.ParseFloat(v, 64)
			want = "a number"
		case reflect.Slice:
			fmt.Fprintf(&b, "%s = %s\n", s.key, tomlList(v))
			continue
		default:
			fmt.Fprintf(&b, "%s = %q\n", s.key, v)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %q is not %s", name, v, want)
		}
		fmt.Fprintf(&b, "%s = %s\n", s.key, v)
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
	if c.BundleRate < 0 || c.BundleBurst < 0 || c.PreKeyRequesterPeriod.Duration < 0 || c.PreKeyDeviceMax < 0 ||
		c.PreKeyDeviceWindow.Duration < 0 || c.SignedRequestsPerAccount < 0 {
		errs = append(errs, errors.New("bundle_rate, bundle_burst, prekey_* and signed_requests_per_account must not be negative"))
	}
	errs = append(errs, c.validateRegistration())
	if c.AccountSendRate < 0 || c.AccountSendBurst < 0 || c.MaxConnectionsPerDevice < 0 || c.MailboxListConcurrency < 0 {
		errs = append(errs, errors.New("account_send_rate, account_send_burst, max_connections_per_device and mailbox_list_concurrency are 0 (default) or more"))
	}
	if c.BackupEvaluations < 0 || c.BackupWindow.Duration < 0 || c.MaxBackupSize < 0 {
		errs = append(errs, errors.New("backup_evaluations, backup_window and max_backup_size are 0 (default) or more"))
	}
	if c.MaxConnsPerIP < 0 || c.MinTransferRate < 0 {
		errs = append(errs, errors.New("max_conns_per_ip and min_transfer_rate cannot be negative"))
	}
	if c.MailboxSenderShare < 0 || c.MailboxSenderShare > 1 {
		errs = append(errs, fmt.Errorf("mailbox_sender_share %v: want a fraction above 0, at most 1", c.MailboxSenderShare))
	}
	errs = append(errs, c.validateOps())
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// directoryLimits are the directory's limits from the configuration.
func (c *Config) directoryLimits() directory.Limits {
	return directory.Limits{BundleRate: c.BundleRate, BundleBurst: c.BundleBurst,
		RequesterPeriod: c.PreKeyRequesterPeriod.Duration, DeviceMax: c.PreKeyDeviceMax,
		DeviceWindow: c.PreKeyDeviceWindow.Duration, RequestsPerAccount: c.SignedRequestsPerAccount}
}
