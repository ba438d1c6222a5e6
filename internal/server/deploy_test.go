package server

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// deploy/hush.toml names every setting the server reads, and loads as it
// stands: a new Config field without its line there fails here, so the
// operator's example cannot fall behind the server.
func TestDeployExampleNamesEverySetting(t *testing.T) {
	const path = "../../deploy/hush.toml"
	var c Config
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[Config]()
	n := 0
	for i := range typ.NumField() {
		key := typ.Field(i).Tag.Get("toml")
		if key == "" || key == "-" {
			continue
		}
		n++
		if !md.IsDefined(key) {
			t.Errorf("setting %s (Config.%s) is not in deploy/hush.toml", key, typ.Field(i).Name)
		}
	}
	if n < 50 {
		t.Fatalf("only %d settings found in Config", n)
	}
	cfg := Defaults()
	if err := cfg.LoadFile(path); err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	// Its values are the defaults where it says so: the server started
	// with the example behaves as one started without it.
	if cfg.EnvelopeTTL.Duration != 720*time.Hour || cfg.MailboxMaxCount != 10_000 || cfg.MaxConnsPerIP != DefaultMaxConnsPerIP ||
		cfg.Listen != DefaultListen || cfg.MQTTListen != DefaultMQTTListen {
		t.Fatalf("example values differ from the defaults: %+v", cfg)
	}
}

// deploy/hush.service runs the server sandboxed, on the example
// configuration, with its key as a credential.
func TestDeployServiceUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "hush.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"ExecStart=/usr/local/bin/hush server --config /etc/hush/hush.toml", "DynamicUser=yes",
		"StateDirectory=hush", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n",
		"LoadCredential=signing.key:/etc/hush/signing.key", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(unit, want) {
			t.Errorf("deploy/hush.service lacks %q", want)
		}
	}
}
