package proto

// Key backup endpoints (doc/API.md §2.19, doc/DEVICES.md §5).
const (
	// OpPutBackup is the op of PUT /v1/backup.
	OpPutBackup = "put_backup"
	// OpUnlockBackup is the op of POST /v1/backup/unlock.
	OpUnlockBackup = "unlock_backup"
	// HeaderSignedRequest carries the signed request of PUT /v1/backup,
	// whose body is the backup itself: base64 (standard, padded) of a
	// SignedRequest's JSON.
	HeaderSignedRequest = "Hush-Signed-Request"
)

// BackupOPRFRequest is the body of POST /v1/backup/oprf: one blinded
// element (doc/SPEC.md §16.2) for the account's OPRF key.
type BackupOPRFRequest struct {
	Username string `json:"username"`
	Blinded  []byte `json:"blinded"`
}

// BackupOPRFAnswer is the answer of POST /v1/backup/oprf: the evaluated
// element and how many evaluations the account has left in the current
// window after this one.
type BackupOPRFAnswer struct {
	Evaluated []byte `json:"evaluated"`
	TriesLeft int    `json:"tries_left"`
}

// PutBackupRequest stores the account's backup (op "put_backup"). It
// travels in the HeaderSignedRequest header; the request body is the
// backup, of exactly Size bytes with this SHA-256.
type PutBackupRequest struct {
	RequestHeader
	Size   int64  `json:"size"`
	SHA256 []byte `json:"sha256"`
}

// UnlockBackupRequest lifts the account's OPRF evaluation limit until the
// next window fills (op "unlock_backup").
type UnlockBackupRequest struct {
	RequestHeader
}
