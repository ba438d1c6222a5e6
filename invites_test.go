package hush

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server"
)

// startPolicyServer starts a server with the registration settings mod sets.
func startPolicyServer(t *testing.T, mod func(*server.Config)) (*server.Server, server.Config) {
	t.Helper()
	cfg := server.Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", filepath.Join(t.TempDir(), "server")
	mod(&cfg)
	s, err := server.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s, cfg
}

func TestCreateWithInvite(t *testing.T) {
	s, cfg := startPolicyServer(t, func(c *server.Config) { c.Registration, c.UserInvites = "invite", 1 })
	ctx := context.Background()
	dir := t.TempDir()
	opts := func(name, code string) Options {
		return Options{Home: filepath.Join(dir, name), Passphrase: []byte("pw"), ServerURL: s.HTTPURL(), Invite: code}
	}
	if _, err := Create(ctx, opts("alice", ""), "alice", ""); !errors.Is(err, ErrInviteRequired) {
		t.Fatalf("without a code: %v", err)
	}
	if _, err := Create(ctx, opts("alice", "ABCD"), "alice", ""); !errors.Is(err, ErrInviteInvalid) {
		t.Fatalf("with a bad code: %v", err)
	}
	inv, err := server.IssueInvite(ctx, cfg, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	alice := create(t, opts("alice", inv.Code), "alice")
	if _, err := Create(ctx, opts("bob", inv.Code), "bob", ""); !errors.Is(err, ErrInviteUsed) || err.Error() == "" {
		t.Fatalf("a used code: %v", err)
	}

	// Alice invites bob, once.
	mine, err := alice.CreateInvite(ctx, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if mine.InvitesLeft != 0 || mine.ExpiresAt.Before(time.Now().Add(47*time.Hour)) {
		t.Fatalf("invite %+v", mine)
	}
	if _, err := alice.CreateInvite(ctx, 0); !errors.Is(err, ErrInviteLimit) {
		t.Fatalf("second invite: %v", err)
	}
	create(t, opts("bob", mine.Code), "bob")
}

func TestCreateOnClosedOrThrottledServer(t *testing.T) {
	ctx := context.Background()
	s, _ := startPolicyServer(t, func(c *server.Config) { c.Registration = "closed" })
	o := Options{Home: filepath.Join(t.TempDir(), "alice"), Passphrase: []byte("pw"), ServerURL: s.HTTPURL()}
	if _, err := Create(ctx, o, "alice", ""); !errors.Is(err, ErrRegistrationClosed) {
		t.Fatalf("closed: %v", err)
	}

	s, _ = startPolicyServer(t, func(c *server.Config) { c.RegistrationsPerIPHour = 1 })
	o.ServerURL = s.HTTPURL()
	create(t, o, "alice")
	o.Home = filepath.Join(t.TempDir(), "bob")
	_, err := Create(ctx, o, "bob", "")
	var limited *RateLimitedError
	// The allowance comes back an hour after the first registration,
	// less the moments the test took.
	if !errors.As(err, &limited) || !errors.Is(err, ErrRateLimited) || limited.RetryAfter <= 50*time.Minute || limited.RetryAfter > time.Hour {
		t.Fatalf("throttled: %v", err)
	}
	t.Logf("second registration from one address with a limit of 1: %v (Retry-After %s)", err, limited.RetryAfter)
	if _, err := Open(ctx, Options{Home: o.Home, Passphrase: o.Passphrase}); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("a refused registration left a profile: %v", err)
	}
}
