package hush

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/backup"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
)

// BackupOptions choose what a backup holds.
type BackupOptions struct {
	// WithHistory adds the message history of every contact and group.
	WithHistory bool
	// BeforeUpload, if set, is called with the sizes once the backup is
	// sealed and before it is uploaded; an error from it cancels the
	// upload and is returned.
	BeforeUpload func(BackupInfo) error
}

// BackupInfo describes a backup made by CreateBackup.
type BackupInfo struct {
	Size        int // bytes uploaded: the sealed backup
	PayloadSize int // bytes of the payload before encryption
	Contacts    int
	Groups      int
	Messages    int // messages of the history; 0 without WithHistory
	WithHistory bool
}

// CreateBackup seals the identity, contacts, groups and settings (and,
// with WithHistory, the message history) under a key derived from
// passphrase with the server's help, and stores the backup on the server,
// replacing any older one (doc/DEVICES.md §5). Device keys and sessions
// are never in it: a restore makes a new device. Each call costs one of
// the account's counted passphrase tries.
func (c *Client) CreateBackup(ctx context.Context, passphrase []byte, opts BackupOptions) (*BackupInfo, error) {
	p, info, err := c.backupPayload(ctx, opts.WithHistory)
	if err != nil {
		return nil, err
	}
	raw := encodeJSON(p)
	out, _, err := c.backupOPRF(ctx, c.api, c.prof.Username, passphrase)
	if err != nil {
		return nil, err
	}
	key, err := backup.NewKey(out, backup.DefaultParams)
	if err != nil {
		return nil, err
	}
	b, err := backup.Seal(c.prof.Username, raw, key, nil)
	if err != nil {
		return nil, err
	}
	data := b.Bytes()
	info.Size, info.PayloadSize = len(data), len(raw)
	if opts.BeforeUpload != nil {
		if err := opts.BeforeUpload(*info); err != nil {
			return nil, err
		}
	}
	if err := c.api.PutBackup(ctx, c.prof.Username, c.id, data); err != nil {
		return nil, backupErr(err)
	}
	return info, nil
}

// ChangeBackupPassphrase re-wraps the backup on the server under a new
// passphrase; the payload is not re-encrypted (doc/SPEC.md §16.6). It
// costs two counted passphrase tries (current and next).
func (c *Client) ChangeBackupPassphrase(ctx context.Context, current, next []byte) error {
	b, err := fetchBackup(ctx, c.api, c.prof.Username)
	if err != nil {
		return err
	}
	oldKey, err := c.backupKey(ctx, c.api, b, c.prof.Username, current)
	if err != nil {
		return err
	}
	// Checked before the next passphrase costs a try.
	if _, err := backup.OpenWithKey(b, c.prof.Username, oldKey.key); err != nil {
		return openErr(err, oldKey.triesLeft)
	}
	out, _, err := c.backupOPRF(ctx, c.api, c.prof.Username, next)
	if err != nil {
		return err
	}
	newKey, err := backup.NewKey(out, backup.DefaultParams)
	if err != nil {
		return err
	}
	nb, err := backup.Rewrap(b, c.prof.Username, oldKey.key, newKey)
	if err != nil {
		return openErr(err, oldKey.triesLeft)
	}
	return backupErr(c.api.PutBackup(ctx, c.prof.Username, c.id, nb.Bytes()))
}

// UnlockBackup lifts the server's lock on the account's backup after too
// many passphrase tries, and restarts the count.
func (c *Client) UnlockBackup(ctx context.Context) error {
	return backupErr(c.api.UnlockBackup(ctx, c.prof.Username, c.id))
}

// backupOPRF runs the OPRF with the server for passphrase (one counted
// try) and returns its output and the tries the server says are left.
func (c *Client) backupOPRF(ctx context.Context, api *apiclient.Client, username string, passphrase []byte) ([]byte, int, error) {
	if len(passphrase) == 0 {
		return nil, 0, errors.New("the backup passphrase is empty: choose one")
	}
	if len(passphrase) > backup.MaxPassphrase {
		return nil, 0, fmt.Errorf("the backup passphrase is over %d bytes: choose a shorter one", backup.MaxPassphrase)
	}
	state, blinded, err := backup.Blind(passphrase)
	if err != nil {
		return nil, 0, err
	}
	a, err := api.BackupOPRF(ctx, username, blinded)
	if err != nil {
		return nil, 0, c.backupErrAt(err)
	}
	out, err := backup.Finalize(state, a.Evaluated)
	if err != nil {
		return nil, 0, errors.New("the server's answer to the backup passphrase is not valid: try again, or ask the server's operator")
	}
	return out, a.TriesLeft, nil
}

// openedKey is a backup key that opened a backup's passphrase wrap, or
// the tries left when it did not.
type openedKey struct {
	key       *backup.Key
	triesLeft int
}

// backupKey derives the key of b for passphrase: one OPRF try, Argon2id
// with the header's salt and parameters.
func (c *Client) backupKey(ctx context.Context, api *apiclient.Client, b *backup.Backup, username string, passphrase []byte) (*openedKey, error) {
	out, left, err := c.backupOPRF(ctx, api, username, passphrase)
	if err != nil {
		return nil, err
	}
	key, err := backup.KeyFor(b, out)
	if err != nil {
		return nil, err
	}
	return &openedKey{key: key, triesLeft: left}, nil
}

// fetchBackup downloads and parses the account's backup.
func fetchBackup(ctx context.Context, api *apiclient.Client, username string) (*backup.Backup, error) {
	data, err := api.GetBackup(ctx, username)
	if err != nil {
		return nil, backupErr(err)
	}
	b, err := backup.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (it does not parse): make a new one with hush backup create on a device of yours", ErrBackupDamaged)
	}
	return b, nil
}

// openErr maps backup's open errors to this package's.
func openErr(err error, triesLeft int) error {
	switch {
	case errors.Is(err, backup.ErrWrongPassphrase):
		return &BackupPassphraseError{TriesLeft: triesLeft}
	case errors.Is(err, backup.ErrTampered), errors.Is(err, backup.ErrMalformed):
		return fmt.Errorf("%w: make a new one with hush backup create on a device of yours", ErrBackupDamaged)
	}
	return err
}

// backupErr maps the server's backup answers to this package's errors.
func backupErr(err error) error { return (*Client)(nil).backupErrAt(err) }

func (c *Client) backupErrAt(err error) error {
	var ae *apiclient.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, apiclient.ErrNoBackups):
		return fmt.Errorf("%w: ask its operator to upgrade, or keep your devices", ErrBackupsUnsupported)
	case !errors.As(err, &ae):
		return serverErr(err)
	}
	switch {
	case ae.Code == "backup_locked":
		now := time.Now
		if c != nil {
			now = c.now
		}
		return &BackupLockedError{Until: now().Add(ae.RetryAfter).Truncate(time.Minute).Add(time.Minute)}
	case ae.Code == "no_backup":
		return fmt.Errorf("%w: make one with hush backup create on a device of yours", ErrNoBackup)
	case ae.Status == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("the backup is larger than this server keeps: make it without the message history")
	}
	return err
}

// messageKey is where a message record is filed: its id and time.
func messageKey(rec []byte) ([]byte, time.Time, error) {
	var m messageRecord
	if err := decodeJSON(rec, &m, "message"); err != nil {
		return nil, time.Time{}, err
	}
	id, err := hex.DecodeString(m.ID)
	if err != nil || len(id) != 16 {
		return nil, time.Time{}, fmt.Errorf("client: corrupt message record: id %q", m.ID)
	}
	return id, time.UnixMilli(m.ReceivedAt), nil
}

// storeRestored writes what a backup holds into a new profile.
func storeRestored(tx *localstore.Tx, p *backupPayload) error {
	for _, rec := range p.Contacts {
		var cr contactRecord
		if err := decodeJSON(rec, &cr, "contact"); err != nil {
			return err
		}
		if err := tx.PutContact(cr.Username, rec); err != nil {
			return err
		}
	}
	if len(p.Groups) > 0 {
		if err := tx.PutSecret(secretGroups, encodeJSON(p.Groups)); err != nil {
			return err
		}
	}
	for _, conv := range p.History {
		for _, rec := range conv.Messages {
			id, at, err := messageKey(rec)
			if err != nil {
				return err
			}
			if _, err := tx.AddMessage(conv.Name, id, at, rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRestoredIdentity: the identity in the backup is the account's
// current one in the directory.
func checkRestoredIdentity(id *identity.IdentityPrivateKey, served *identity.IdentityKey, username string) error {
	if !served.Equal(id.Public()) {
		return fmt.Errorf("%w: the backup holds an identity key that is no longer %s's (the identity was rotated or replaced since): restore a newer backup",
			ErrBackupDamaged, username)
	}
	return nil
}
