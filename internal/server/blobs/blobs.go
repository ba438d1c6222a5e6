// Package blobs serves attachment blobs (doc/API.md, "Blobs"). A client
// encrypts a file or memo with the file stream format (doc/SPEC.md §7),
// uploads the ciphertext as numbered chunks, and hands the blob id to its
// recipients inside an end-to-end encrypted message; they fetch the chunks
// and report when they are done.
//
// What the package promises:
//
//   - The server never interprets a chunk: it checks lengths only, and
//     stores and returns opaque bytes through store.Blobs.
//   - A stored chunk never changes. Resending it with the same bytes
//     succeeds (an upload resumes after a lost answer); other bytes are
//     refused, so nobody can swap content under a recipient mid-download.
//   - Only the account that created a blob uploads its chunks.
//   - A blob id is 128 random bits and acts as a capability: any
//     authenticated device that knows it may read the blob's status and
//     chunks. Ids never appear in log lines or error messages.
//   - Memory per request is bounded by one chunk (Config.MaxChunk): bodies
//     are read through http.MaxBytesReader and no request holds a whole
//     blob.
//   - A blob is deleted once Recipients devices have reported done, or by
//     ExpireOld once its TTL has passed; an expired blob that is not yet
//     collected already answers 404. Each device counts once, durably
//     (the store records it), and one account counts at most its share:
//     one completion, or the number its creator declared in multi_device
//     for it. So no account, whatever its number of devices, can use up
//     the completions meant for other accounts and delete the blob
//     before they fetched it.
//   - One account cannot exhaust the server's disk or bandwidth: the
//     declared sizes of its live blobs stay within AccountBytes, at most
//     AccountUploads of them are incomplete, and its chunk uploads draw
//     on one byte bucket (UploadRate, UploadBurst). A refusal happens
//     before a body is read.
package blobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hush-chat/hush/internal/server/store"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxBlobSize   = 2 << 30 // 2 GiB
	DefaultMaxChunk      = 4 << 20 // 4 MiB: many 64 KiB stream chunks per transfer
	DefaultTTL           = 30 * 24 * time.Hour
	DefaultMaxRecipients = 1000
	// DefaultAccountBytes holds two files of the largest size, or
	// thousands of ordinary attachments, waiting for their recipients.
	DefaultAccountBytes = 4 << 30 // 4 GiB
	// DefaultAccountUploads is far more uploads than a person runs at
	// once, and bounds the incomplete blobs an interrupted client leaves.
	DefaultAccountUploads = 32
	// DefaultUploadRate is 400 Mbit/s per account, sustained.
	DefaultUploadRate = 50 << 20 // bytes per second
	// DefaultUploadBurst lets an ordinary file go at full speed.
	DefaultUploadBurst = 64 << 20
)

// MinChunk is the smallest chunk_size a blob may declare (or MaxChunk, if
// that is smaller). It bounds the number of chunks, and so of stored rows
// and of PUT requests, to MaxBlobSize/MinChunk: without it a 2 GiB blob of
// 1-byte chunks would cost two billion rows.
const MinChunk = 64 << 10

// Config configures a Service. Zero values take the defaults above.
type Config struct {
	Store         store.Store
	MaxBlobSize   int64         // largest declared blob size
	MaxChunk      int64         // largest chunk_size, and so the most one request buffers
	TTL           time.Duration // a blob is deleted this long after its creation
	MaxRecipients int           // largest recipient count
	// AccountBytes bounds the declared sizes of one account's live blobs
	// (each counted as at least MinChunk), from their creation until they
	// are fetched or expire.
	AccountBytes int64
	// AccountUploads bounds how many of one account's live blobs are not
	// completely uploaded.
	AccountUploads int
	// UploadRate (bytes per second) and UploadBurst bound the chunk bytes
	// one account uploads, over all its devices (token bucket). The burst
	// is raised to MaxChunk if lower, so that every chunk can pass.
	UploadRate  int64
	UploadBurst int64
	Now         func() time.Time
	Logger      *slog.Logger
}

// Service serves the blob endpoints. It is safe for concurrent use.
type Service struct {
	store         store.Store
	maxBlobSize   int64
	maxChunk      int64
	ttl           time.Duration
	maxRecipients int
	quota         store.BlobQuota
	uploads       *uploadLimiter
	now           func() time.Time
	log           *slog.Logger
	m             *metrics
}

// New returns a Service. Negative limits are refused; zero limits take the
// defaults.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("blobs: no store")
	}
	if cfg.MaxBlobSize < 0 || cfg.MaxChunk < 0 || cfg.TTL < 0 || cfg.MaxRecipients < 0 ||
		cfg.AccountBytes < 0 || cfg.AccountUploads < 0 || cfg.UploadRate < 0 || cfg.UploadBurst < 0 {
		return nil, errors.New("blobs: negative limit in config")
	}
	s := &Service{
		store:         cfg.Store,
		maxBlobSize:   orDefault(cfg.MaxBlobSize, DefaultMaxBlobSize),
		maxChunk:      orDefault(cfg.MaxChunk, DefaultMaxChunk),
		ttl:           orDefault(cfg.TTL, DefaultTTL),
		maxRecipients: orDefault(cfg.MaxRecipients, DefaultMaxRecipients),
		now:           cfg.Now,
		log:           cfg.Logger,
		m:             newMetrics(),
	}
	s.quota = store.BlobQuota{MaxBytes: orDefault(cfg.AccountBytes, DefaultAccountBytes),
		MinCharge: min(MinChunk, s.maxChunk), MaxIncomplete: orDefault(cfg.AccountUploads, DefaultAccountUploads)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.uploads = newUploadLimiter(orDefault(cfg.UploadRate, DefaultUploadRate),
		max(orDefault(cfg.UploadBurst, DefaultUploadBurst), s.maxChunk), s.now)
	return s, nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Handler serves the routes under /v1/blobs. The server wraps it in
// httpapi.RequireAuth; a request that reaches it without a principal is
// refused with 401 all the same (fail closed).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/blobs", s.handleCreate)
	mux.HandleFunc("GET /v1/blobs/{id}", s.handleStatus)
	mux.HandleFunc("PUT /v1/blobs/{id}/chunks/{index}", s.handlePutChunk)
	mux.HandleFunc("GET /v1/blobs/{id}/chunks/{index}", s.handleGetChunk)
	mux.HandleFunc("POST /v1/blobs/{id}/done", s.handleDone)
	return mux
}

// ExpireOld deletes the blobs whose TTL has passed, with their chunks. The
// server calls it periodically.
func (s *Service) ExpireOld(ctx context.Context) error {
	now := s.now()
	n, err := s.store.ExpireBlobs(ctx, now)
	if err != nil {
		return fmt.Errorf("blobs: expire: %w", err)
	}
	if n > 0 {
		s.m.deleted.WithLabelValues("expired").Add(float64(n))
		s.log.Info("blobs expired", "count", n)
	}
	return nil
}

// Collectors returns the Prometheus collectors of this Service, for the
// server's own registry.
func (s *Service) Collectors() []prometheus.Collector { return s.m.collectors() }
