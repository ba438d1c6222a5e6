package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigFileUnknownKeyRefused(t *testing.T) {
	// A typo in a setting must not be silently ignored.
	p := filepath.Join(t.TempDir(), "hush.toml")
	os.WriteFile(p, []byte("listen = \"127.0.0.1:0\"\nalow_username_reuse = true\n"), 0o600)
	c := Defaults()
	err := c.LoadFile(p)
	if err == nil || !strings.Contains(err.Error(), "alow_username_reuse") {
		t.Fatalf("got %v, want an error naming the unknown key", err)
	}
}

func TestConfigPrecedenceFileThenEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hush.toml")
	os.WriteFile(p, []byte("listen = \"127.0.0.1:1111\"\nmqtt_listen = \"127.0.0.1:2222\"\ntoken_ttl = \"10m\"\nmailbox_max_count = 5\n"), 0o600)
	c := Defaults()
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HUSH_SERVER_LISTEN": "127.0.0.1:3333", "HUSH_SERVER_ALLOW_USERNAME_REUSE": "true"}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3333" || c.MQTTListen != "127.0.0.1:2222" || !c.AllowUsernameReuse ||
		c.TokenTTL.Duration != 10*time.Minute || c.MailboxMaxCount != 5 {
		t.Fatalf("merged config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigEnvErrors(t *testing.T) {
	c := Defaults()
	err := c.LoadEnv(func(k string) string {
		if k == "HUSH_SERVER_MAILBOX_MAX_COUNT" {
			return "lots"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "HUSH_SERVER_MAILBOX_MAX_COUNT") {
		t.Fatalf("got %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"listen without port": func(c *Config) { c.Listen = "localhost" },
		"cert without key":    func(c *Config) { c.TLSCert = "x.pem" },
		"smtp without from":   func(c *Config) { c.SMTPAddr = "127.0.0.1:25" },
		"bad log level":       func(c *Config) { c.LogLevel = "loud" },
	} {
		c := Defaults()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDefaultsAreLoopback(t *testing.T) {
	c := Defaults()
	for _, a := range []string{c.Listen, c.MQTTListen} {
		if !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":1883") || strings.HasSuffix(a, ":8883") {
			t.Errorf("default address %s", a)
		}
	}
}

func TestServerKeyPersistsAndIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, created, err := loadOrCreateKey(dir, nil)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	k2, created, err := loadOrCreateKey(dir, nil)
	if err != nil || created || !k2.Public().Equal(k1.Public()) {
		t.Fatal("the key changed across restarts")
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, serverKeyFile): 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
}

func TestServerKeyEncryptedWithPassphrase(t *testing.T) {
	dir := t.TempDir()
	k1, _, err := loadOrCreateKey(dir, []byte("operator secret"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, serverKeyFile))
	if strings.Contains(string(raw), string(k1.Seed())) || !strings.HasPrefix(string(raw), "hush-server-key-v1") {
		t.Fatal("security regression: the key file holds the seed in the clear")
	}
	k2, _, err := loadOrCreateKey(dir, []byte("operator secret"))
	if err != nil || !k2.Public().Equal(k1.Public()) {
		t.Fatalf("reload: %v", err)
	}
	for _, pw := range [][]byte{nil, []byte("wrong")} {
		if _, _, err := loadOrCreateKey(dir, pw); !errors.Is(err, ErrKeyPassphrase) {
			t.Fatalf("passphrase %q: got %v", pw, err)
		}
	}
}

func TestConfigBlobLimitsFromEnv(t *testing.T) {
	c := Defaults()
	env := map[string]string{"HUSH_SERVER_ACCOUNT_BLOB_BYTES": "1073741824", "HUSH_SERVER_ACCOUNT_BLOB_UPLOADS": "8",
		"HUSH_SERVER_BLOB_UPLOAD_RATE": "1048576", "HUSH_SERVER_BLOB_UPLOAD_BURST": "8388608"}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.AccountBlobBytes != 1<<30 || c.AccountBlobUploads != 8 || c.BlobUploadRate != 1<<20 || c.BlobUploadBurst != 8<<20 {
		t.Fatalf("blob limits %d %d %d %d", c.AccountBlobBytes, c.AccountBlobUploads, c.BlobUploadRate, c.BlobUploadBurst)
	}
	err := c.LoadEnv(func(k string) string {
		if k == "HUSH_SERVER_BLOB_UPLOAD_RATE" {
			return "fast"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "HUSH_SERVER_BLOB_UPLOAD_RATE") {
		t.Fatalf("got %v", err)
	}
}

// The per-device and per-account relay limits are read from the file and
// the environment, and a negative one is refused.
func TestConfigRelayDeviceLimits(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hush.toml")
	os.WriteFile(p, []byte("account_send_rate = 50.5\nmax_connections_per_device = 2\n"), 0o600)
	c := Defaults()
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HUSH_SERVER_ACCOUNT_SEND_BURST": "300", "HUSH_SERVER_MAILBOX_LIST_CONCURRENCY": "1"}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.AccountSendRate != 50.5 || c.AccountSendBurst != 300 || c.MaxConnectionsPerDevice != 2 || c.MailboxListConcurrency != 1 {
		t.Fatalf("merged config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.MaxConnectionsPerDevice = -1
	if c.Validate() == nil {
		t.Fatal("negative max_connections_per_device accepted")
	}
	if err := c.LoadEnv(func(k string) string {
		if k == "HUSH_SERVER_MAX_CONNECTIONS_PER_DEVICE" {
			return "many"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "HUSH_SERVER_MAX_CONNECTIONS_PER_DEVICE") {
		t.Fatalf("got %v", err)
	}
}
