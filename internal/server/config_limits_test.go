package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/directory"
)

func TestConfigDirectoryLimits(t *testing.T) {
	env := map[string]string{
		"HUSH_SERVER_BUNDLE_RATE": "2.5", "HUSH_SERVER_BUNDLE_BURST": "50",
		"HUSH_SERVER_PREKEY_REQUESTER_PERIOD": "12h", "HUSH_SERVER_PREKEY_DEVICE_MAX": "5",
		"HUSH_SERVER_PREKEY_DEVICE_WINDOW": "30m", "HUSH_SERVER_SIGNED_REQUESTS_PER_ACCOUNT": "100",
	}
	c := Defaults()
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	want := directory.Limits{BundleRate: 2.5, BundleBurst: 50, RequesterPeriod: 12 * time.Hour, DeviceMax: 5,
		DeviceWindow: 30 * time.Minute, RequestsPerAccount: 100}
	if got := c.directoryLimits(); got != want {
		t.Fatalf("limits %+v, want %+v", got, want)
	}
	if (&Config{}).directoryLimits() != (directory.Limits{}) {
		t.Fatal("unset settings must leave the directory's defaults")
	}
	c.PreKeyDeviceMax = -1
	if err := c.Validate(); err == nil {
		t.Fatal("a negative limit was accepted")
	}
	env["HUSH_SERVER_BUNDLE_BURST"] = "many"
	c = Defaults()
	if err := c.LoadEnv(func(k string) string { return env[k] }); err == nil {
		t.Fatal("a non-numeric burst was accepted")
	}
}

// The slow-client and login-challenge limits are settings like the
// others: in the file, in the environment, with max_conns_per_ip 0
// turning the cap off.
func TestConfigLimitSettings(t *testing.T) {
	if c := Defaults(); c.MaxConnsPerIP != DefaultMaxConnsPerIP {
		t.Fatalf("default max_conns_per_ip %d", c.MaxConnsPerIP)
	}
	p := filepath.Join(t.TempDir(), "hush.toml")
	os.WriteFile(p, []byte(`header_timeout = "5s"
transfer_timeout = "1m"
min_transfer_rate = 4096
idle_timeout = "3m"
mqtt_max_idle = "20m"
max_conns_per_ip = 0
challenge_rate = 2.5
challenge_burst = 50
challenge_device_rate = 0.5
challenge_device_burst = 3
challenge_max_outstanding = 2
`), 0o600)
	c := Defaults()
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HUSH_SERVER_MIN_TRANSFER_RATE": "16384", "HUSH_SERVER_CHALLENGE_RATE": "1.5",
		"HUSH_SERVER_MQTT_MAX_IDLE": "30m"}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.HeaderTimeout.Duration != 5*time.Second || c.TransferTimeout.Duration != time.Minute || c.MinTransferRate != 16384 ||
		c.IdleTimeout.Duration != 3*time.Minute || c.MQTTMaxIdle.Duration != 30*time.Minute || c.MaxConnsPerIP != 0 ||
		c.ChallengeRate != 1.5 || c.ChallengeBurst != 50 || c.ChallengeDeviceRate != 0.5 || c.ChallengeDeviceBurst != 3 ||
		c.ChallengeMaxOutstanding != 2 {
		t.Fatalf("merged config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.MaxConnsPerIP = -1
	if c.Validate() == nil {
		t.Fatal("a negative max_conns_per_ip was accepted")
	}
	env = map[string]string{"HUSH_SERVER_MAX_CONNS_PER_IP": "many"}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err == nil {
		t.Fatal("a malformed HUSH_SERVER_MAX_CONNS_PER_IP was accepted")
	}
}
