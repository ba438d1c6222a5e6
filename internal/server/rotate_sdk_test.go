package server_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/server"
)

// After the operator rotates the signing key, an SDK client that pinned
// the old one is told that the server's key changed, with both
// fingerprints, and not that a signature does not verify; trusting the
// new key (once the operator confirmed it) lets it go on.
func TestClientMeetsARotatedServerKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "hush.db")
	oldKey, newKey := filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	oldFP, err := server.Keygen(oldKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	newFP, err := server.Keygen(newKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := func(key string) (*server.Server, func()) {
		cfg := server.Defaults()
		cfg.Listen, cfg.MQTTListen, cfg.DataDir, cfg.DB, cfg.SigningKey = "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), db, key
		cfg.RegistrationsPerIPHour = -1
		s, err := server.StartConfig(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		stop := func() { s.Shutdown(context.Background()) }
		return s, stop
	}
	s, stop := start(oldKey)
	homes := t.TempDir()
	opts := func(name, url string) hush.Options {
		return hush.Options{Home: filepath.Join(homes, name), Passphrase: []byte("p"), ServerURL: url}
	}
	for _, name := range []string{"alice", "bob"} {
		c, err := hush.Create(ctx, opts(name, s.HTTPURL()), name, "")
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	stop()

	cfg := server.Defaults()
	cfg.DB = db
	if _, _, err := server.RotateKey(ctx, cfg, newKey); err != nil {
		t.Fatal(err)
	}
	s2, stop2 := start(newKey)
	defer stop2()
	alice, err := hush.Open(ctx, opts("alice", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SetConfig(ctx, "server", s2.HTTPURL()); err != nil {
		t.Fatal(err)
	}
	alice.Close()
	alice, err = hush.Open(ctx, opts("alice", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()

	_, err = alice.Send(ctx, "bob", "hi")
	var ke *hush.ServerKeyChangedError
	if !errors.Is(err, hush.ErrServerKeyChanged) || !errors.As(err, &ke) || ke.Pinned != oldFP || ke.Served != newFP {
		t.Fatalf("send after rotation: %v; want ErrServerKeyChanged from %s to %s", err, oldFP, newFP)
	}
	if msg := err.Error(); !strings.Contains(msg, "the server's signing key changed: pinned "+oldFP+", served "+newFP) ||
		strings.Contains(msg, "signature does not verify") {
		t.Fatalf("error text %q", msg)
	}
	if fp, err := alice.TrustServerKey(ctx); err != nil || fp != newFP {
		t.Fatalf("trust: %s %v", fp, err)
	}
	if _, err := alice.Send(ctx, "bob", "hi"); err != nil {
		t.Fatalf("send after trusting the new key: %v", err)
	}
}
