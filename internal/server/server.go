// Package server assembles `hush server`: the key directory, the auth
// service, the relay with its embedded MQTT broker and the attachment store
// over one storage backend, behind one HTTP listener and one MQTT listener,
// with health, metrics, structured logs and graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/smtp"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/server/auth"
	"github.com/hush-chat/hush/internal/server/backups"
	"github.com/hush-chat/hush/internal/server/blobs"
	"github.com/hush-chat/hush/internal/server/directory"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/links"
	"github.com/hush-chat/hush/internal/server/relay"
	"github.com/hush-chat/hush/internal/server/rooms"
	"github.com/hush-chat/hush/internal/server/sqlstore"
	"github.com/hush-chat/hush/internal/server/store"
)

// sweepEvery is how often expired envelopes, blobs, tokens and unactivated
// accounts are removed.
const sweepEvery = time.Minute

// Server is a running hush server.
type Server struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	store store.Store
	key   *identity.IdentityPrivateKey
	dir   *directory.Directory
	auth  *auth.Service
	relay *relay.Relay
	blobs *blobs.Service
	rooms *rooms.Service
	links *links.Service
	bk    *backups.Service
	reg   *prometheus.Registry

	health *storeHealth
	ops    ops          // metrics listener, reloadable TLS certificate
	conns  *connLimiter // max_conns_per_ip, over the HTTP and MQTT listeners

	httpSrv  *http.Server
	httpLn   net.Listener
	mqttAddr net.Addr
	stop     chan struct{}
	wg       sync.WaitGroup
}

// New opens the store and builds every service; nothing listens yet.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key, err := configuredKey(cfg)
	if err != nil {
		return nil, err
	}
	st, err := sqlstore.Open(ctx, cfg.databaseURL())
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	key, err = loadServerKey(ctx, cfg, key, st, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, now: time.Now, store: st, key: key, reg: prometheus.NewRegistry(), stop: make(chan struct{}),
		health: &storeHealth{st: st}, conns: newConnLimiter(cfg.MaxConnsPerIP, log)}
	// The HTTP listener is bound here, before the services are built, so
	// that with port 0 the e-mail links already carry the real port.
	if s.httpLn, err = net.Listen("tcp", cfg.Listen); err != nil {
		st.Close()
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	if s.cfg.BaseURL == "" {
		s.cfg.BaseURL = s.HTTPURL()
	}
	if err := s.build(); err != nil {
		s.httpLn.Close()
		st.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) build() error {
	cfg := s.cfg
	var err error
	lims := auth.Limits{AddrRate: cfg.ChallengeRate, AddrBurst: cfg.ChallengeBurst, DeviceRate: cfg.ChallengeDeviceRate,
		DeviceBurst: cfg.ChallengeDeviceBurst, MaxOutstanding: cfg.ChallengeMaxOutstanding}
	if s.auth, err = auth.New(auth.Config{Store: s.store, TokenTTL: cfg.TokenTTL.Duration, Limits: lims, Now: s.now, Logger: s.log}); err != nil {
		return err
	}
	var mailer directory.Mailer
	if cfg.SMTPAddr != "" {
		var a smtp.Auth
		if cfg.SMTPUser != "" {
			host, _, _ := net.SplitHostPort(cfg.SMTPAddr)
			a = smtp.PlainAuth("", cfg.SMTPUser, cfg.SMTPPassword, host)
		}
		mailer = directory.NewSMTPMailer(cfg.SMTPAddr, cfg.SMTPFrom, a)
	}
	dcfg := directory.Config{Store: s.store, ServerKey: s.key, Mailer: mailer,
		BaseURL: cfg.BaseURL, AllowUsernameReuse: cfg.AllowUsernameReuse, Now: s.now, Logger: s.log,
		Tokens: s.auth, Limits: cfg.directoryLimits()}
	cfg.registrationConfig(&dcfg)
	s.dir, err = directory.New(dcfg)
	if err != nil {
		return err
	}
	lim := relay.Limits{TTL: cfg.EnvelopeTTL.Duration, RatePerSec: cfg.SendRate, Burst: cfg.SendBurst}
	lim.Mailbox.MaxCount, lim.Mailbox.MaxBytes = cfg.MailboxMaxCount, cfg.MailboxMaxBytes
	lim.AccountRatePerSec, lim.AccountBurst = cfg.AccountSendRate, cfg.AccountSendBurst
	lim.MaxConnsPerDevice, lim.ListConcurrency = cfg.MaxConnectionsPerDevice, cfg.MailboxListConcurrency
	lim.SenderShare, lim.AccountMaxCount, lim.AccountMaxBytes = cfg.MailboxSenderShare, cfg.AccountMaxCount, cfg.AccountMaxBytes
	if s.relay, err = relay.New(relay.Config{Store: s.store, Tokens: s.auth, Limits: lim, Now: s.now, Logger: s.log}); err != nil {
		return err
	}
	if s.blobs, err = blobs.New(blobs.Config{Store: s.store, MaxBlobSize: cfg.MaxBlobSize,
		AccountBytes: cfg.AccountBlobBytes, AccountUploads: cfg.AccountBlobUploads,
		UploadRate: cfg.BlobUploadRate, UploadBurst: cfg.BlobUploadBurst, Now: s.now, Logger: s.log}); err != nil {
		return err
	}
	if s.rooms, err = rooms.New(rooms.Config{Store: s.store, Now: s.now, Logger: s.log}); err != nil {
		return err
	}
	s.links = links.New(s.auth, s.now, s.log)
	if s.bk, err = backups.New(backups.Config{Store: s.store, Evaluations: cfg.BackupEvaluations,
		Window: cfg.BackupWindow.Duration, MaxSize: cfg.MaxBackupSize, RequestsPerAccount: cfg.SignedRequestsPerAccount,
		Now: s.now, Logger: s.log}); err != nil {
		return err
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.reg.MustRegister(s.conns.refused)
	for _, cs := range [][]prometheus.Collector{s.dir.Collectors(), s.relay.Collectors(), s.blobs.Collectors(), s.bk.Collectors()} {
		s.reg.MustRegister(cs...)
	}
	return nil
}

// routes mounts every service on one mux.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	dir := s.dir.Handler()
	for _, p := range []string{"/v1/users", "/v1/users/", "/v1/prekeys", "/v1/devices", "/v1/devices/",
		"/v1/activate/", "/v1/cancel/", "/v1/server-key", "/v1/invites"} {
		mux.Handle(p, dir)
	}
	mux.Handle("/v1/auth/", s.auth.Handler())
	rel := s.relay.Handler()
	for _, p := range []string{"/v1/messages", "/v1/mailbox", "/v1/mailbox/", "/v1/mailboxes/", "/v1/fanout"} {
		mux.Handle(p, rel)
	}
	bl := httpapi.RequireAuth(s.auth, s.blobs.Handler())
	mux.Handle("/v1/blobs", bl)
	mux.Handle("/v1/blobs/", bl)
	rm := s.rooms.Handler()
	mux.Handle("/v1/rooms", rm)
	mux.Handle("/v1/rooms/", rm)
	lk := s.links.Handler()
	mux.Handle("/v1/links", lk)
	mux.Handle("/v1/links/", lk)
	mux.Handle("/v1/recovery", lk)
	mux.Handle("/v1/recovery/", lk)
	bk := s.bk.Handler()
	mux.Handle("/v1/backup", bk)
	mux.Handle("/v1/backup/", bk)
	mux.Handle("/mqtt", s.relay.MQTTWebSocketHandlerWith(s.mqttTimeouts()))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /v1/server-info", s.serverInfo)
	return s.transferLimits().guard(logStoreFailures(s.log, instrument(s.reg, mux)))
}

// serverInfo tells clients where the MQTT listener is: the operator's
// public URL when set, else its port (clients combine it with the host they
// reached the HTTP API on).
func (s *Server) serverInfo(w http.ResponseWriter, r *http.Request) {
	_, port, _ := net.SplitHostPort(s.mqttAddr.String())
	p, _ := strconv.Atoi(port)
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"version": "1", "mqtt_port": p,
		"mqtt_tls": s.cfg.TLSCert != "", "mqtt_url": s.cfg.MQTTPublicURL})
}

// Start binds both listeners and serves in the background.
func (s *Server) Start() error {
	ln := s.httpLn
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		ln.Close()
		return err
	}
	if err := s.startMetrics(); err != nil {
		ln.Close()
		return err
	}
	mln, err := net.Listen("tcp", s.cfg.MQTTListen)
	if err != nil {
		ln.Close()
		s.stopMetrics(context.Background())
		return fmt.Errorf("mqtt listen %s: %w", s.cfg.MQTTListen, err)
	}
	mln = s.conns.wrap(mln)
	if tlsCfg != nil {
		mln = tls.NewListener(mln, tlsCfg)
	}
	if s.mqttAddr, err = s.relay.ServeMQTT(mln, s.mqttTimeouts()); err != nil {
		ln.Close()
		s.stopMetrics(context.Background())
		return fmt.Errorf("mqtt listen %s: %w", s.cfg.MQTTListen, err)
	}
	ln = s.conns.wrap(ln)
	s.httpSrv = s.newHTTPServer()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		var err error
		if tlsCfg != nil {
			err = s.httpSrv.Serve(tls.NewListener(ln, tlsCfg))
		} else {
			err = s.httpSrv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.sweep()
	}()
	return nil
}

func (s *Server) sweep() {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for name, f := range map[string]func(context.Context) error{
			"pending accounts": s.dir.ExpirePending,
			"dir records":      s.dir.ExpireRecords,
			"envelopes":        s.relay.ExpireOld,
			"blobs":            s.blobs.ExpireOld,
			"link slots":       func(context.Context) error { s.links.Sweep(); return nil },
			"tokens": func(ctx context.Context) error {
				_, err := s.store.ExpireTokens(ctx, s.now())
				return err
			},
		} {
			if err := f(ctx); err != nil {
				s.log.Warn("expiry sweep failed", "what", name, "err", err)
			}
		}
		cancel()
	}
}

// HTTPURL returns the base URL of the HTTP listener, with its real port.
func (s *Server) HTTPURL() string {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.httpLn.Addr().String()
}

// MQTTURL returns the MQTT address, with its real port (mqtts:// with TLS).
func (s *Server) MQTTURL() string {
	if s.cfg.TLSCert != "" {
		return "mqtts://" + s.mqttAddr.String()
	}
	return "mqtt://" + s.mqttAddr.String()
}

// Store returns the server's storage, for tools that seed or inspect it
// (benchmarks, imports).
func (s *Server) Store() store.Store { return s.store }

// PublicKey returns the server's public signing key.
func (s *Server) PublicKey() *identity.IdentityKey { return s.key.Public() }

// Fingerprint returns the fingerprint of the server's signing key.
func (s *Server) Fingerprint() string { return identity.Fingerprint(s.key.Public()) }

// Shutdown stops accepting, drains in-flight requests and commits, and
// closes the database.
func (s *Server) Shutdown(ctx context.Context) error {
	close(s.stop)
	var errs []error
	if s.httpSrv != nil {
		errs = append(errs, s.httpSrv.Shutdown(ctx))
	}
	errs = append(errs, s.relay.Close(ctx), s.stopMetrics(ctx))
	s.wg.Wait()
	errs = append(errs, s.store.Close())
	return errors.Join(errs...)
}

// Run starts a server, prints its HTTP URL, MQTT URL and key fingerprint one
// per line on out, and serves until ctx is done.
func Run(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) error {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		s.store.Close()
		return err
	}
	serveHangups := s.reloadOnHangup() // before the URLs: who reads them may send SIGHUP
	fmt.Fprintln(out, s.HTTPURL())
	fmt.Fprintln(out, s.MQTTURL())
	fmt.Fprintln(out, "fingerprint "+s.Fingerprint())
	s.log.Info("hush server started", "http", s.HTTPURL(), "mqtt", s.MQTTURL(), "metrics", s.MetricsURL(), "data", cfg.DataDir)
	serveHangups(ctx)
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

// StartLocal starts a server on loopback, on ports the system picks, with
// its data in dataDir: what demos, benchmarks and tests need.
func StartLocal(ctx context.Context, dataDir string) (*Server, error) {
	cfg := Defaults()
	cfg.Listen, cfg.MQTTListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dataDir
	// Every client of a local server shares the loopback address: the
	// per-address registration throttle would count them all as one.
	cfg.RegistrationsPerIPHour = -1
	return StartConfig(ctx, cfg, nil)
}

// StartConfig builds a server from cfg and starts serving in the
// background; on failure nothing stays open.
func StartConfig(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		s.httpLn.Close()
		s.store.Close()
		return nil, err
	}
	return s, nil
}
