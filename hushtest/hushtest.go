// Package hushtest runs a hush server in the test process, in the spirit
// of net/http/httptest: an application that embeds package hush tests its
// own code against a real server (directory, relay, embedded MQTT broker,
// SQLite in a temporary directory) without anything installed.
//
//	func TestBot(t *testing.T) {
//		srv := hushtest.NewServer(t)
//		alice := srv.NewClient(t, "alice")
//		bob := srv.NewClient(t, "bob")
//		…
//	}
//
// Servers listen on 127.0.0.1 on ports the system picks, so tests run in
// parallel. Everything is removed when the test ends.
package hushtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/server"
)

// Passphrase is the passphrase of every profile this package creates, for
// a test that closes a client and opens its profile again with hush.Open.
const Passphrase = "hushtest passphrase"

// Server is a hush server running in the test process.
type Server struct {
	srv    *server.Server
	dir    string // profiles of Client and Options go under it
	remove bool   // Start made dir; Close removes it

	mu      sync.Mutex
	homes   int
	clients []*hush.Client // made by Client, closed by Close
	closed  bool
}

// NewServer starts a server on a directory of t.TempDir() and stops it
// when the test ends. It fails the test if the server cannot start.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s, err := start(context.Background(), t.TempDir(), false)
	if err != nil {
		t.Fatalf("hushtest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start starts a server on a new temporary directory, for code that has
// no testing.TB (examples, benchmarks' setup, demos). Close stops it and
// removes the directory.
func Start(ctx context.Context) (*Server, error) {
	dir, err := os.MkdirTemp("", "hushtest-")
	if err != nil {
		return nil, fmt.Errorf("hushtest: %w", err)
	}
	s, err := start(ctx, dir, true)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("hushtest: %w", err)
	}
	return s, nil
}

func start(ctx context.Context, dir string, remove bool) (*Server, error) {
	srv, err := server.Start(ctx, server.Config{
		DataDir: filepath.Join(dir, "server"),
		// Every client of a test server has the loopback address: the
		// per-address registration limit would count them as one.
		RegistrationsPerIPHour: -1,
	})
	if err != nil {
		return nil, err
	}
	return &Server{srv: srv, dir: dir, remove: remove}, nil
}

// URL is the server's base URL (http://127.0.0.1:port), what
// hush.Options.ServerURL takes.
func (s *Server) URL() string { return s.srv.URL() }

// BrokerURL is the server's MQTT listener (mqtt://127.0.0.1:port).
func (s *Server) BrokerURL() string { return s.srv.BrokerURL() }

// Fingerprint is the fingerprint of the server's signing key.
func (s *Server) Fingerprint() string { return s.srv.Fingerprint() }

// Options returns options for a new profile on this server: a fresh home
// directory under the server's temporary directory, Passphrase, and URL.
// Pass them to hush.Create, and later to hush.Open to reopen the profile.
func (s *Server) Options() hush.Options {
	s.mu.Lock()
	s.homes++
	home := filepath.Join(s.dir, "clients", fmt.Sprint(s.homes))
	s.mu.Unlock()
	return hush.Options{Home: home, Passphrase: []byte(Passphrase), ServerURL: s.URL()}
}

// NewClient registers username on the server with a new profile in
// t.TempDir() and closes the client when the test ends. It fails the test
// if the user cannot be created.
func (s *Server) NewClient(t testing.TB, username string) *hush.Client {
	t.Helper()
	o := hush.Options{Home: t.TempDir(), Passphrase: []byte(Passphrase), ServerURL: s.URL()}
	c, err := hush.Create(context.Background(), o, username, "")
	if err != nil {
		t.Fatalf("hushtest: create %s: %v", username, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Client registers username on the server with a new profile (see
// Options); Close closes the client, if the caller has not.
func (s *Server) Client(ctx context.Context, username string) (*hush.Client, error) {
	c, err := hush.Create(ctx, s.Options(), username, "")
	if err != nil {
		return nil, fmt.Errorf("hushtest: create %s: %w", username, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, fmt.Errorf("hushtest: create %s: the server is closed", username)
	}
	s.clients = append(s.clients, c)
	return c, nil
}

// Close closes the clients made by Client, stops the server and, for a
// server from Start, removes its directory. Later calls do nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	clients := s.clients
	s.clients = nil
	s.mu.Unlock()
	for _, c := range clients {
		c.Close()
	}
	err := s.srv.Close()
	if s.remove {
		if rerr := os.RemoveAll(s.dir); err == nil {
			err = rerr
		}
	}
	return err
}
