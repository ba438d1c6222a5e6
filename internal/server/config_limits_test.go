package server

import (
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
