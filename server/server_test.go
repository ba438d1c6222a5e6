package server_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/server"
)

func start(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func create(t *testing.T, s *server.Server, name string, o hush.Options) (*hush.Client, error) {
	t.Helper()
	o.Home, o.Passphrase, o.ServerURL = t.TempDir(), []byte("test passphrase "+name), s.URL()
	c, err := hush.Create(context.Background(), o, name, "")
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestStartedServerCarriesAConversation(t *testing.T) {
	ctx := context.Background()
	s := start(t, server.Config{DataDir: filepath.Join(t.TempDir(), "srv")})
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || strings.HasSuffix(s.URL(), ":0") {
		t.Fatalf("URL %q: want loopback with the real port", s.URL())
	}
	if !strings.HasPrefix(s.BrokerURL(), "mqtt://127.0.0.1:") || strings.HasSuffix(s.BrokerURL(), ":0") {
		t.Fatalf("BrokerURL %q: want loopback with the real port", s.BrokerURL())
	}
	alice, err := create(t, s, "alice", hush.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := create(t, s, "bob", hush.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "bob", "over the embedded server"); err != nil {
		t.Fatal(err)
	}
	msgs, err := bob.Sync(ctx)
	if err != nil || len(msgs) != 1 || msgs[0].From != "alice" || msgs[0].Text != "over the embedded server" {
		t.Fatalf("bob got %+v, %v", msgs, err)
	}
	// The key the clients check directory answers against is the one
	// Fingerprint reports.
	fp, err := alice.TrustServerKey(ctx)
	if err != nil || fp != s.Fingerprint() {
		t.Fatalf("served key %q (%v), server reports %q", fp, err, s.Fingerprint())
	}
}

func TestSigningKeyKeptInDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "srv")
	s1, err := server.Start(context.Background(), server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fp := s1.Fingerprint()
	if len(fp) != 39 { // 32 hex digits in groups of four
		t.Fatalf("fingerprint %q", fp)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil { // a second Close is harmless
		t.Fatalf("second Close: %v", err)
	}
	if s2 := start(t, server.Config{DataDir: dir}); s2.Fingerprint() != fp {
		t.Fatalf("restart on the same data directory: fingerprint %q, was %q", s2.Fingerprint(), fp)
	}
	if s3 := start(t, server.Config{DataDir: filepath.Join(t.TempDir(), "other")}); s3.Fingerprint() == fp {
		t.Fatal("two data directories share a signing key")
	}
}

func TestInviteOnlyRegistration(t *testing.T) {
	ctx := context.Background()
	s := start(t, server.Config{DataDir: t.TempDir(), Registration: "invite"})
	if _, err := create(t, s, "mallory", hush.Options{}); err == nil {
		t.Fatal("registered without an invite on an invite-only server")
	}
	code, err := s.Invite(ctx, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := create(t, s, "alice", hush.Options{Invite: code}); err != nil {
		t.Fatalf("with the invite: %v", err)
	}
	if _, err := create(t, s, "bob", hush.Options{Invite: code}); err == nil {
		t.Fatal("a one-use invite admitted two registrations")
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]server.Config{
		"no data dir":        {},
		"bad registration":   {DataDir: t.TempDir(), Registration: "sometimes"},
		"cert without key":   {DataDir: t.TempDir(), TLSCert: "cert.pem"},
		"listen not an addr": {DataDir: t.TempDir(), Listen: "localhost"},
	} {
		if s, err := server.Start(ctx, cfg); err == nil {
			s.Close()
			t.Errorf("%s: started", name)
		}
	}
}
