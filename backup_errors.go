package hush

import (
	"errors"
	"fmt"
	"time"
)

// Errors of key backups (CreateBackup, RestoreBackup, ChangeBackupPassphrase,
// UnlockBackup). Check them with errors.Is; the typed errors say more.
var (
	// ErrWrongBackupPassphrase: the backup passphrase does not open the
	// backup. A *BackupPassphraseError carries the tries left.
	ErrWrongBackupPassphrase = errors.New("the backup passphrase is wrong")
	// ErrBackupLocked: the server refuses further passphrase tries for the
	// account until a time. A *BackupLockedError carries it.
	ErrBackupLocked = errors.New("the backup is locked after too many passphrase tries")
	// ErrNoBackup: the server holds no backup for the account.
	ErrNoBackup = errors.New("there is no backup for this account on the server")
	// ErrBackupsUnsupported: the server does not keep key backups.
	ErrBackupsUnsupported = errors.New("this server does not keep key backups")
	// ErrBackupDamaged: the backup does not open although the passphrase
	// was right (altered, truncated, for another account or identity).
	ErrBackupDamaged = errors.New("the backup is damaged or was altered")
)

// BackupPassphraseError is a wrong backup passphrase. It matches
// ErrWrongBackupPassphrase.
type BackupPassphraseError struct {
	// TriesLeft is how many more tries the server allows before it locks
	// the backup; -1 when it did not say.
	TriesLeft int
}

func (e *BackupPassphraseError) Error() string {
	switch {
	case e.TriesLeft < 0:
		return "the backup passphrase is wrong: check it and try again"
	case e.TriesLeft == 0:
		return "the backup passphrase is wrong, and that was the last try the server allows for now: the backup is locked until the server's window passes, or run hush backup unlock on a device of yours"
	case e.TriesLeft == 1:
		return "the backup passphrase is wrong (1 try left before the backup locks): check it and try again"
	}
	return fmt.Sprintf("the backup passphrase is wrong (%d tries left before the backup locks): check it and try again", e.TriesLeft)
}

// Is makes the error match ErrWrongBackupPassphrase.
func (e *BackupPassphraseError) Is(target error) bool { return target == ErrWrongBackupPassphrase }

// BackupLockedError says until when the server refuses passphrase tries.
// It matches ErrBackupLocked.
type BackupLockedError struct {
	Until time.Time
}

func (e *BackupLockedError) Error() string {
	return fmt.Sprintf("the backup is locked after too many passphrase tries until %s: wait, or run hush backup unlock on a device of yours",
		e.Until.UTC().Format("2006-01-02 15:04 UTC"))
}

// Is makes the error match ErrBackupLocked.
func (e *BackupLockedError) Is(target error) bool { return target == ErrBackupLocked }
