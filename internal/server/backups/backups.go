// Package backups serves key backups (doc/API.md §2.19, doc/DEVICES.md §5):
// the OPRF evaluation a client needs to turn its backup passphrase into a
// key, counted per account before it is answered and refused over the
// limit until the window passes or the owner unlocks it; the upload of a
// backup signed by the account's identity key; its download.
//
// The server never sees a passphrase (only blinded elements) nor a key; it
// keeps one 32-byte OPRF secret in the database, created on first use and
// never logged. A username without an account is answered like an account
// without a backup: the evaluation is made (not counted: there is no
// account to count against) and GET answers no_backup.
package backups

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hush-chat/hush/internal/backup"
	"github.com/hush-chat/hush/internal/server/store"
)

// Defaults of Config.
const (
	// DefaultEvaluations is how many OPRF evaluations (passphrase guesses)
	// an account gets per window (doc/DEVICES.md §5).
	DefaultEvaluations = 10
	// DefaultWindow is the length of that window.
	DefaultWindow = 24 * time.Hour
	// DefaultMaxSize bounds one backup.
	DefaultMaxSize = 16 << 20
	// DefaultRequestsPerAccount bounds the signed requests remembered for
	// replay protection per account (as the directory's default).
	DefaultRequestsPerAccount = 1000
)

// Store is what the service keeps: accounts (to check signatures), the
// replay guard and the backups.
type Store interface {
	GetAccount(ctx context.Context, username string) (*store.Account, error)
	ClaimRequest(ctx context.Context, hash []byte, account string, expiresAt, now time.Time, max int) error
	store.Backups
}

// Config configures a Service; zero limits take the defaults.
type Config struct {
	Store              Store
	Evaluations        int           // OPRF evaluations per account and window
	Window             time.Duration // the evaluation window
	MaxSize            int64         // bytes of one backup
	RequestsPerAccount int           // signed requests remembered per account
	Now                func() time.Time
	Logger             *slog.Logger
}

// Service serves the backup endpoints. It is safe for concurrent use.
type Service struct {
	st     Store
	evals  int
	window time.Duration
	max    int64
	reqs   int
	now    func() time.Time
	log    *slog.Logger
	m      *metrics

	mu     sync.Mutex // guards secret
	secret []byte     // the OPRF secret once loaded; never logged
}

// New builds a Service.
func New(c Config) (*Service, error) {
	if c.Store == nil {
		return nil, errors.New("backups: no store")
	}
	if c.Evaluations < 0 || c.Window < 0 || c.MaxSize < 0 || c.RequestsPerAccount < 0 {
		return nil, errors.New("backups: limits must not be negative")
	}
	s := &Service{st: c.Store, evals: c.Evaluations, window: c.Window, max: c.MaxSize, reqs: c.RequestsPerAccount,
		now: c.Now, log: c.Logger, m: newMetrics()}
	if s.evals == 0 {
		s.evals = DefaultEvaluations
	}
	if s.window == 0 {
		s.window = DefaultWindow
	}
	if s.max == 0 {
		s.max = DefaultMaxSize
	}
	if s.reqs == 0 {
		s.reqs = DefaultRequestsPerAccount
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// serverSecret returns the OPRF secret, creating it in the store on first
// use (any instance's first value wins, so all instances share it).
func (s *Service) serverSecret(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secret != nil {
		return s.secret, nil
	}
	fresh := make([]byte, backup.SecretSize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	sec, err := s.st.BackupSecret(ctx, fresh)
	if err != nil {
		return nil, fmt.Errorf("backups: loading the OPRF secret: %w", err)
	}
	if len(sec) != backup.SecretSize {
		return nil, errors.New("backups: the stored OPRF secret has the wrong length")
	}
	s.secret = sec
	return sec, nil
}
