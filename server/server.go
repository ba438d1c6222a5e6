// Package server embeds a hush server in a Go program: the key directory,
// the store-and-forward relay with its MQTT broker, and the attachment
// store, over SQLite in a data directory (or PostgreSQL), served on one
// HTTP and one MQTT listener. It is the same server `hush server` runs.
//
// A program that only talks to an existing server does not need this
// package: package hush (the client) never imports it, so the broker and
// the database drivers stay out of such a program's binary.
//
//	srv, err := server.Start(ctx, server.Config{DataDir: dir})
//	if err != nil { … }
//	defer srv.Close()
//	c, err := hush.Create(ctx, hush.Options{Home: home, Passphrase: pass,
//		ServerURL: srv.URL()}, "alice", "")
//
// What the server stores is ciphertext and the metadata doc/THREATS.md
// lists; its signing key (in DataDir) signs every directory answer, and
// clients pin it at registration: keep DataDir when the server restarts.
package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hush-chat/hush/internal/server"
	"github.com/hush-chat/hush/internal/server/directory"
)

// Config says where a server keeps its data and where it listens. The zero
// value of every field but DataDir is a working default: loopback
// listeners on ports the system picks, SQLite in DataDir, open
// registration.
type Config struct {
	// DataDir holds the server's signing key and, unless DB is set, its
	// SQLite database. Required; created owner-only if missing.
	DataDir string
	// Listen is the HTTP address (host:port). Default "127.0.0.1:0": a
	// free port on loopback; URL reports the real one.
	Listen string
	// MQTTListen is the MQTT address for live delivery. Default
	// "127.0.0.1:0"; BrokerURL reports the real one. MQTT over WebSocket
	// is always served at /mqtt on the HTTP address too.
	MQTTListen string
	// DB is the database URL: empty for SQLite in DataDir, or
	// postgres://user:pass@host/db.
	DB string
	// BaseURL is the public URL clients reach the server at, used in
	// e-mail links; default the HTTP listener's URL.
	BaseURL string
	// MQTTPublicURL is the MQTT address clients should use (mqtt://host:port)
	// when it is not the HTTP host with the MQTT listener's port (behind
	// NAT or a proxy).
	MQTTPublicURL string
	// TLSCert and TLSKey are PEM files; when set, both listeners use TLS
	// (https://, mqtts://).
	TLSCert, TLSKey string
	// KeyPassphrase, when not empty, encrypts the signing key at rest
	// (Argon2id); the same passphrase is needed at every start.
	KeyPassphrase string

	// Registration says who may create an account: "open" (the default),
	// "invite" (a code from Invite, or one a user issues) or "closed".
	Registration string
	// UserInvites is how many invites each user may issue in invite mode
	// (0: none).
	UserInvites int
	// RegistrationsPerIPHour bounds new accounts per client address and
	// hour: 0 means 30, a negative value means no limit (a server whose
	// clients all share one address, such as loopback).
	RegistrationsPerIPHour int
	// AllowUsernameReuse lets a deleted username be registered again with
	// another identity key.
	AllowUsernameReuse bool

	// SMTPAddr (host:port), when set, turns on e-mail activation: an
	// account registered with an address works once its link is opened.
	// SMTPFrom is then required; SMTPUser and SMTPPassword are optional
	// (PLAIN auth).
	SMTPAddr, SMTPFrom, SMTPUser, SMTPPassword string

	// Logger receives the server's structured logs; nil discards them.
	Logger *slog.Logger
}

// Server is a running hush server.
type Server struct {
	s    *server.Server
	once sync.Once
	err  error
}

// Start opens the database (creating the data directory and the signing
// key on first use), binds both listeners and serves in the background
// until Shutdown or Close. ctx bounds the start only.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("server: Config.DataDir is empty: give the directory for the server's key and database")
	}
	ic := server.Defaults()
	ic.DataDir, ic.DB, ic.BaseURL, ic.MQTTPublicURL = cfg.DataDir, cfg.DB, cfg.BaseURL, cfg.MQTTPublicURL
	ic.Listen, ic.MQTTListen = orDefault(cfg.Listen, "127.0.0.1:0"), orDefault(cfg.MQTTListen, "127.0.0.1:0")
	ic.TLSCert, ic.TLSKey, ic.KeyPassphrase = cfg.TLSCert, cfg.TLSKey, cfg.KeyPassphrase
	ic.Registration, ic.UserInvites = orDefault(cfg.Registration, "open"), cfg.UserInvites
	ic.RegistrationsPerIPHour, ic.AllowUsernameReuse = cfg.RegistrationsPerIPHour, cfg.AllowUsernameReuse
	ic.SMTPAddr, ic.SMTPFrom, ic.SMTPUser, ic.SMTPPassword = cfg.SMTPAddr, cfg.SMTPFrom, cfg.SMTPUser, cfg.SMTPPassword
	s, err := server.StartConfig(ctx, ic, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return &Server{s: s}, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// URL is the base URL of the HTTP API, with the real port
// (http://127.0.0.1:40123): what hush.Options.ServerURL takes.
func (s *Server) URL() string { return s.s.HTTPURL() }

// BrokerURL is the MQTT listener's URL, with the real port
// (mqtt://127.0.0.1:40124, mqtts:// with TLS). Clients learn it from the
// server on their own; it is for tools and logs.
func (s *Server) BrokerURL() string { return s.s.MQTTURL() }

// Fingerprint is the fingerprint of the server's signing key, as `hush
// server` prints it at start: sixteen bytes of its hash in hex groups of
// four. Users compare it with the one their client pinned.
func (s *Server) Fingerprint() string { return s.s.Fingerprint() }

// Invite issues an operator invite that admits uses registrations during
// validFor, and returns its code (for Registration "invite"; pass it to
// hush.Options.Invite).
func (s *Server) Invite(ctx context.Context, uses int, validFor time.Duration) (string, error) {
	inv, err := directory.IssueInvite(ctx, s.s.Store(), uses, validFor, time.Now())
	if err != nil {
		return "", err
	}
	return inv.Code, nil
}

// Shutdown stops accepting connections, lets requests in flight finish
// until ctx is done, and closes the database. Later calls return the first
// call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() { s.err = s.s.Shutdown(ctx) })
	return s.err
}

// Close is Shutdown with fifteen seconds for requests in flight.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}
