package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/server/directory"
	"github.com/hush-chat/hush/internal/server/sqlstore"
)

// validateRegistration checks the registration settings.
func (c *Config) validateRegistration() error {
	var errs []error
	if _, err := directory.ParsePolicy(c.Registration); err != nil {
		errs = append(errs, err)
	}
	if c.UserInvites < 0 {
		errs = append(errs, errors.New("user_invites is negative"))
	}
	if _, err := directory.ParseTrustedProxies(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("trusted_proxies: %w", err))
	}
	return errors.Join(errs...)
}

// registrationConfig copies the registration settings into the
// directory's configuration; c has been validated.
func (c *Config) registrationConfig(dc *directory.Config) {
	dc.Registration, _ = directory.ParsePolicy(c.Registration)
	dc.RegistrationsPerIP = c.RegistrationsPerIPHour
	dc.ActivationMailsPerAddress = c.ActivationMailsPerAddressDay
	dc.UserInvites = c.UserInvites
	dc.TrustedProxies, _ = directory.ParseTrustedProxies(c.TrustedProxies)
}

// tomlList turns a comma-separated environment value into a TOML array
// of strings.
func tomlList(v string) string {
	var items []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			items = append(items, strconv.Quote(s))
		}
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// databaseURL is the store the server opens: the db setting, or SQLite in
// the data directory.
func (c *Config) databaseURL() string {
	if c.DB != "" {
		return c.DB
	}
	return "sqlite://" + filepath.Join(c.DataDir, "hush.db")
}

// PublicURL is the base URL clients reach the server at: base_url, or the
// listen address.
func (c *Config) PublicURL() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	if c.TLSCert != "" {
		return "https://" + c.Listen
	}
	return "http://" + c.Listen
}

// IssueInvite stores a new operator invite in the database of cfg (the
// server may be running on it) admitting uses registrations for ttl, and
// returns its code: what `hush server invite` does.
func IssueInvite(ctx context.Context, cfg Config, uses int, ttl time.Duration) (*directory.IssuedInvite, error) {
	if cfg.DB == "" {
		// Opening would create an empty database: an invite there admits
		// nobody to the real server.
		p := filepath.Join(cfg.DataDir, "hush.db")
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("no server database at %s: pass the server's data directory with --data (or its database with --db)", p)
		}
	}
	st, err := sqlstore.Open(ctx, cfg.databaseURL())
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	return directory.IssueInvite(ctx, st, uses, ttl, time.Now())
}
