package server

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/server/directory"
)

func TestRegistrationSettingsFromFileAndEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hush.toml")
	os.WriteFile(p, []byte("registration = \"invite\"\nuser_invites = 2\ntrusted_proxies = [\"10.0.0.0/8\"]\n"), 0o600)
	c := Defaults()
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HUSH_SERVER_REGISTRATIONS_PER_IP_HOUR": "5", "HUSH_SERVER_ACTIVATION_MAILS_PER_ADDRESS_DAY": "-1",
		"HUSH_SERVER_TRUSTED_PROXIES": "127.0.0.1, ::1"}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var dc directory.Config
	c.registrationConfig(&dc)
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	if dc.Registration != directory.RegistrationInvite || dc.UserInvites != 2 || dc.RegistrationsPerIP != 5 ||
		dc.ActivationMailsPerAddress != -1 || len(dc.TrustedProxies) != 2 || dc.TrustedProxies[0] != want[0] || dc.TrustedProxies[1] != want[1] {
		t.Fatalf("directory config %+v", dc)
	}

	for name, mod := range map[string]func(*Config){
		"unknown policy":       func(c *Config) { c.Registration = "invite-only" },
		"negative invites":     func(c *Config) { c.UserInvites = -1 },
		"bad proxy":            func(c *Config) { c.TrustedProxies = []string{"proxy.example"} },
		"proxy prefix too big": func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/40"} },
	} {
		c := Defaults()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c = Defaults()
	err := c.LoadEnv(func(k string) string {
		if k == "HUSH_SERVER_USER_INVITES" {
			return "lots"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "HUSH_SERVER_USER_INVITES") {
		t.Fatalf("got %v", err)
	}
}

// TestInvitePolicyEndToEnd: a running server with the invite policy
// refuses a registration without a code, and admits one with a code the
// operator issued into its database while it runs.
func TestInvitePolicyEndToEnd(t *testing.T) {
	cfg := Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir, cfg.Registration = "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), "invite"
	s, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	ctx := context.Background()
	c := apiclient.New(s.HTTPURL(), nil)
	alice := newUser(t, "alice")
	reg := apiclient.Registration{Username: "alice", Identity: alice.id, Cert: alice.cert, Keyring: alice.ring}
	if err := c.Register(ctx, reg); !apiclient.IsCode(err, "invite_required") {
		t.Fatalf("registration without a code: %v", err)
	}
	inv, err := IssueInvite(ctx, cfg, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	reg.Invite = inv.Code
	if err := c.Register(ctx, reg); err != nil {
		t.Fatal(err)
	}
	// The user endpoint is mounted; this server lets only its operator invite.
	if _, err := c.CreateInvite(ctx, "alice", alice.id, 0); !apiclient.IsCode(err, "invites_disabled") {
		t.Fatalf("user invite: %v", err)
	}
	if _, err := IssueInvite(ctx, Config{DataDir: filepath.Join(t.TempDir(), "elsewhere")}, 1, time.Hour); err == nil ||
		!strings.Contains(err.Error(), "no server database") {
		t.Fatalf("invite into a directory without a database: %v", err)
	}
}
