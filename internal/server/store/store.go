// Package store defines what the hush server keeps and the interface its
// storage backends implement (internal/server/sqlstore: SQLite by default,
// PostgreSQL for scale). The server stores public keys, opaque ciphertext
// and the least routing metadata it can: no plaintext, no private key.
//
// Every method is safe for concurrent use. Methods that take or return
// byte slices do not keep or share them with the caller.
package store

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound: no such account, device, prekey, token, envelope or blob.
	ErrNotFound = errors.New("not found")
	// ErrUsernameTaken: the username is (or was) bound to another identity
	// key.
	ErrUsernameTaken = errors.New("username taken")
	// ErrExists: the device, blob or chunk already exists.
	ErrExists = errors.New("already exists")
	// ErrMailboxFull: appending would exceed the mailbox's count or byte
	// limit.
	ErrMailboxFull = errors.New("mailbox full")
	// ErrShareFull: appending would exceed what the envelope's sender may
	// hold in that mailbox (MailboxLimits.SenderMaxCount, SenderMaxBytes).
	ErrShareFull = errors.New("sender's share of the mailbox full")
	// ErrAccountFull: appending would exceed what the envelope's sender may
	// hold across all mailboxes (MailboxLimits.AccountMaxCount,
	// AccountMaxBytes).
	ErrAccountFull = errors.New("sender's storage budget used up")
	// ErrStale: a public room listing or a device list is not newer than
	// the stored one.
	ErrStale = errors.New("stale version")
	// ErrListRequired: the account publishes device lists, and a change of
	// its devices came without one.
	ErrListRequired = errors.New("device list required")
	// ErrLimit: recording would exceed a bound the caller set (signed
	// requests remembered for one account).
	ErrLimit = errors.New("limit reached")
)

// AccountState is where an account is in its life.
type AccountState int

const (
	// StatePending: registered, waiting for its e-mail activation link.
	StatePending AccountState = 1
	// StateActive: usable.
	StateActive AccountState = 2
	// StateDeleted: a tombstone that keeps the username bound to its last
	// identity key, so nobody else can take it over.
	StateDeleted AccountState = 3
)

// Account is a registered username.
type Account struct {
	Username    string
	IdentityKey []byte // 32-byte Ed25519 public key (current)
	KeyVersion  int    // 1 at registration, +1 at each identity rotation
	State       AccountState
	Email       string // kept only while pending; "" otherwise
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// KeyHistory is one identity key an account has had.
type KeyHistory struct {
	Version     int
	IdentityKey []byte
	ValidFrom   time.Time
	ValidUntil  time.Time // zero for the current key
	// Rotation is the statement, signed by the previous key, that
	// introduced this one; nil for a first key or an unsigned rotation.
	Rotation []byte
}

// DeviceList is an account's signed device list (doc/SPEC.md §3.6) as the
// store keeps it. Match, when set, is called inside the transaction that
// stores the list with the account's devices as they are once the change
// is made; an error from it aborts the change. Store methods refuse a
// list whose Version is not above the stored one with ErrStale.
type DeviceList struct {
	Version uint64
	Raw     []byte
	Match   func([]Device) error
}

// Device is one device of an account.
type Device struct {
	Username  string
	DeviceID  uint32
	Cert      []byte // encoded device certificate (doc/SPEC.md §3.2)
	Mailbox   string // opaque mailbox id (doc/SPEC.md §10)
	CreatedAt time.Time
	// Broker is how the device receives: "" through the relay, else the
	// MQTT broker URL its owner published for direct mode.
	Broker string
}

// PreKeyKind says which prekey list a record belongs to.
type PreKeyKind int

const (
	KindSigned     PreKeyKind = 1 // one current signed X25519 prekey per device
	KindLastResort PreKeyKind = 2 // one current last-resort KEM prekey per device
	KindOneTime    PreKeyKind = 3 // one-time X25519 prekeys, handed out once
	KindKEMOneTime PreKeyKind = 4 // one-time KEM prekeys, handed out once
)

// PreKey is an encoded public prekey (doc/SPEC.md §4.1).
type PreKey struct {
	KeyID uint32
	Data  []byte
}

// Token is a single-use secret (e-mail activation or deletion link, or an
// auth challenge). Only its SHA-256 hash is stored.
type Token struct {
	Hash      []byte // SHA-256 of the token
	Purpose   string // "activate", "delete", ...
	Username  string
	DeviceID  uint32
	ExpiresAt time.Time
}

// Session is a relay login: a bearer token (stored hashed) bound to one
// device and its mailbox.
type Session struct {
	Hash      []byte // SHA-256 of the bearer token
	Username  string
	DeviceID  uint32
	Mailbox   string
	ExpiresAt time.Time
}

// NewEnvelope is an envelope to append to a mailbox.
type NewEnvelope struct {
	Mailbox string
	// Sender is the account that submitted the envelope. It is stored
	// with the envelope and charged with it, against the sender limits of
	// MailboxLimits, until the envelope is acknowledged or expires. ""
	// charges nobody (an in-process send that names no account).
	Sender    string
	Data      []byte
	ExpiresAt time.Time
}

// Envelope is a stored envelope. Seq is assigned by the store, unique and
// increasing across the whole store (so also within a mailbox).
type Envelope struct {
	Seq      int64
	Mailbox  string
	Data     []byte
	StoredAt time.Time
}

// AppendResult is the outcome of one NewEnvelope in AppendEnvelopes.
type AppendResult struct {
	Seq int64 // valid when Err is nil
	Err error // nil, ErrNotFound (no such mailbox), ErrMailboxFull, ErrShareFull or ErrAccountFull
}

// MailboxLimits bounds what AppendEnvelopes stores: each mailbox, each
// sender's share of each mailbox, and each sender's envelopes across all
// mailboxes. Zero or less is no limit.
type MailboxLimits struct {
	MaxCount int64
	MaxBytes int64
	// SenderMaxCount and SenderMaxBytes bound what one sender's pending
	// envelopes hold in one mailbox.
	SenderMaxCount int64
	SenderMaxBytes int64
	// AccountMaxCount and AccountMaxBytes bound what one sender's pending
	// envelopes hold across every mailbox.
	AccountMaxCount int64
	AccountMaxBytes int64
}

// Blob is an attachment: opaque encrypted chunks uploaded once and fetched
// by up to Recipients devices.
type Blob struct {
	ID         string // random, chosen by the server
	Owner      string // uploading username
	Size       int64  // total bytes declared at creation
	ChunkSize  int64  // every chunk but the last has exactly this size
	Recipients int    // how many fetch completions delete it
	Fetched    int    // completions so far
	Complete   bool   // every chunk uploaded
	ExpiresAt  time.Time
	CreatedAt  time.Time
	// MultiDevice names the accounts that fetch from more than one device,
	// with how many completions each may count (at least 2); every other
	// account counts one at most. CreateBlob stores it; GetBlob leaves it
	// nil.
	MultiDevice map[string]int
}

// Import is one account for ImportAccounts.
type Import struct {
	Account            Account
	Device             Device
	Signed, LastResort PreKey
}

// Store is everything the server persists.
type Store interface {
	Directory
	Auth
	Mailboxes
	Blobs
	Rooms
	Invites
	Backups
	// Close releases the database.
	Close() error
}

// Directory holds accounts, devices, key history and prekeys.
type Directory interface {
	// CreateAccount registers a new account with its first device, its
	// key history entry (version 1) and its signed and last-resort prekeys,
	// in one transaction. It returns ErrUsernameTaken when the username
	// exists in any state, unless it is a tombstone (StateDeleted) whose
	// identity key equals a.IdentityKey, or allowReuse is set: then the
	// tombstone is replaced.
	CreateAccount(ctx context.Context, a Account, d Device, signed, lastResort PreKey, allowReuse bool) error
	GetAccount(ctx context.Context, username string) (*Account, error)
	// ImportAccounts creates many new accounts (each active or pending,
	// with its first device and prekeys) in one transaction, for bulk
	// loading: migrating from another server, or seeding a benchmark. A
	// username that exists in any state fails the whole batch with
	// ErrUsernameTaken.
	ImportAccounts(ctx context.Context, imports []Import) error
	// GetAccounts returns the accounts that exist (any state) among
	// usernames, in no particular order.
	GetAccounts(ctx context.Context, usernames []string) ([]Account, error)
	// ActivateAccount moves a pending account to active and forgets its e-mail.
	ActivateAccount(ctx context.Context, username string) error
	// DeleteAccount turns the account into a tombstone: devices, prekeys,
	// sessions, tokens and mailboxes (with their envelopes) are removed;
	// the username stays bound to the identity key.
	DeleteAccount(ctx context.Context, username string) error
	// PurgeAccount removes an account and its username entirely (used for
	// pending accounts that expired unactivated).
	PurgeAccount(ctx context.Context, username string) error
	// ExpirePending purges pending accounts created before cutoff and
	// returns their usernames.
	ExpirePending(ctx context.Context, cutoff time.Time) ([]string, error)
	// RotateIdentity replaces the identity key (KeyVersion+1), closes the
	// current history entry at now and opens a new one, replaces all
	// devices with devs and deletes all prekeys and sessions of the account.
	RotateIdentity(ctx context.Context, username string, newKey []byte, devs []Device, now time.Time) error
	// RotateIdentitySigned is RotateIdentity keeping the rotation
	// statement (doc/SPEC.md §3.7) with the new key's history entry and,
	// when list is not nil, publishing the new key's device list.
	RotateIdentitySigned(ctx context.Context, username string, newKey []byte, devs []Device, now time.Time, statement []byte, list *DeviceList) error
	KeyHistory(ctx context.Context, username string) ([]KeyHistory, error)

	AddDevice(ctx context.Context, d Device, signed, lastResort PreKey) error
	GetDevice(ctx context.Context, username string, deviceID uint32) (*Device, error)
	// DeviceByMailbox finds the device owning a mailbox.
	DeviceByMailbox(ctx context.Context, mailbox string) (*Device, error)
	ListDevices(ctx context.Context, username string) ([]Device, error)
	// SetDeviceBroker records how a device receives ("" for the relay);
	// ErrNotFound for an unknown device.
	SetDeviceBroker(ctx context.Context, username string, deviceID uint32, broker string) error
	// DeleteDevice removes a device with its prekeys, sessions and mailbox.
	DeleteDevice(ctx context.Context, username string, deviceID uint32) error

	// Device lists (doc/SPEC.md §3.6). An account that has published a
	// list changes its devices only with a newer one: AddDevice and
	// DeleteDevice refuse such an account with ErrListRequired.

	// GetDeviceList returns the account's newest device list, or
	// ErrNotFound when it never published one.
	GetDeviceList(ctx context.Context, username string) (*DeviceList, error)
	// SetDeviceList publishes a list for the account's current devices.
	SetDeviceList(ctx context.Context, username string, l DeviceList) error
	// AddListedDevice is AddDevice with the list that names the device.
	AddListedDevice(ctx context.Context, d Device, signed, lastResort PreKey, l DeviceList) error
	// DeleteListedDevice is DeleteDevice with the list that leaves it out.
	DeleteListedDevice(ctx context.Context, username string, deviceID uint32, l DeviceList) error

	// SetPreKey replaces the device's signed or last-resort prekey.
	SetPreKey(ctx context.Context, username string, deviceID uint32, kind PreKeyKind, k PreKey) error
	// GetPreKey returns the device's signed or last-resort prekey.
	GetPreKey(ctx context.Context, username string, deviceID uint32, kind PreKeyKind) (*PreKey, error)
	// AddOneTimePreKeys appends one-time prekeys of kind KindOneTime or
	// KindKEMOneTime; a key id already stored for the device is ErrExists
	// and nothing is added.
	AddOneTimePreKeys(ctx context.Context, username string, deviceID uint32, kind PreKeyKind, ks []PreKey) error
	// TakeOneTimePreKey atomically removes and returns the oldest one-time
	// prekey of kind, or ErrNotFound when none is left. Under concurrent
	// calls no key is ever returned twice.
	TakeOneTimePreKey(ctx context.Context, username string, deviceID uint32, kind PreKeyKind) (*PreKey, error)
	CountOneTimePreKeys(ctx context.Context, username string, deviceID uint32, kind PreKeyKind) (int, error)
	// CountAccounts returns how many accounts exist in any state.
	CountAccounts(ctx context.Context) (int64, error)

	// TakeBundleKeys hands requester the device's oldest one-time
	// prekeys, one X25519 and one KEM (each if any is left), unless lim
	// says to withhold them, and records the outcome, in one transaction:
	// concurrent callers never exceed lim and never receive the same key.
	// ErrNotFound for an unknown device.
	TakeBundleKeys(ctx context.Context, username string, deviceID uint32, requester string, now time.Time,
		lim HandOutLimits) (*BundleKeys, error)
	// HandOutReport tells the device's owner how its one-time prekeys
	// went out: hand-outs since since (at most as far back as they are
	// kept), and the bundles withheld since the device was added.
	HandOutReport(ctx context.Context, username string, deviceID uint32, since time.Time) (*HandOutReport, error)
	// ExpireHandOuts forgets hand-outs made before cutoff.
	ExpireHandOuts(ctx context.Context, cutoff time.Time) (int64, error)

	// ClaimRequest records the hash of a signed request of account until
	// expiresAt. It returns ErrExists when the hash is recorded and has
	// not expired at now (a replay), and ErrLimit when account already
	// has max unexpired records; an unexpired record is never dropped to
	// make room.
	ClaimRequest(ctx context.Context, hash []byte, account string, expiresAt, now time.Time, max int) error
	// ExpireRequests deletes request records expired at now (expiresAt
	// not after it).
	ExpireRequests(ctx context.Context, now time.Time) (int64, error)
}

// HandOutLimits bounds how fast one device's one-time prekeys go out.
type HandOutLimits struct {
	// RequesterPeriod: a requester receives one-time prekeys of a device
	// at most once per period.
	RequesterPeriod time.Duration
	// DeviceMax: at most this many bundles with one-time prekeys of one
	// device per DeviceWindow, all requesters together.
	DeviceMax    int
	DeviceWindow time.Duration
}

// Withheld says why a bundle carries no one-time prekeys.
type Withheld int

const (
	NotWithheld    Withheld = 0
	WithheldRepeat Withheld = 1 // the requester received some within RequesterPeriod
	WithheldLimit  Withheld = 2 // the device reached DeviceMax within DeviceWindow
)

// BundleKeys are the one-time prekeys TakeBundleKeys handed out.
type BundleKeys struct {
	OneTime    *PreKey // nil when withheld or none is left
	KEMOneTime *PreKey // nil when withheld or none is left: the last-resort KEM prekey serves
	Withheld   Withheld
}

// HandOutReport is what a device's owner learns about its one-time
// prekeys.
type HandOutReport struct {
	HandedOut  int // bundles with one-time prekeys since the report's start
	Requesters int // distinct requesters among them
	// Repeats and Limited count the bundles served without one-time
	// prekeys (WithheldRepeat, WithheldLimit) since the device was added;
	// LastLimited is when Limited last grew (zero if never).
	Repeats     int64
	Limited     int64
	LastLimited time.Time
}

// Auth holds single-use tokens and relay sessions.
type Auth interface {
	PutToken(ctx context.Context, t Token) error
	// PutTokenCapped stores t for an existing device (ErrNotFound) and
	// deletes, in the same transaction, that device's tokens of t.Purpose
	// which expired at now or are beyond the max newest: a device never
	// has more than max outstanding, and a new token replaces the oldest.
	PutTokenCapped(ctx context.Context, t Token, max int, now time.Time) error
	// TakeToken removes and returns the token with this hash and purpose if
	// it has not expired at now; ErrNotFound otherwise.
	TakeToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*Token, error)
	// ExpireTokens deletes tokens and sessions that expired before now.
	ExpireTokens(ctx context.Context, now time.Time) (int64, error)
	PutSession(ctx context.Context, s Session) error
	// GetSession returns the session with this hash if it has not expired
	// at now; ErrNotFound otherwise.
	GetSession(ctx context.Context, hash []byte, now time.Time) (*Session, error)
	DeleteSession(ctx context.Context, hash []byte) error
}

// Mailboxes holds envelopes waiting for their recipient device.
type Mailboxes interface {
	// AppendEnvelopes stores envelopes in one transaction and returns one
	// result per input, in order. An envelope for a mailbox no device owns
	// gets ErrNotFound; one that would push its mailbox over lim gets
	// ErrMailboxFull, its sender's share of the mailbox ErrShareFull, its
	// sender's total ErrAccountFull (checked in that order); the others
	// are stored and charged to their senders. When it returns a nil
	// error, every envelope with a nil result error is durably committed.
	AppendEnvelopes(ctx context.Context, envs []NewEnvelope, lim MailboxLimits) ([]AppendResult, error)
	// PendingEnvelopes returns up to limit envelopes of mailbox with
	// Seq > afterSeq, in Seq order.
	PendingEnvelopes(ctx context.Context, mailbox string, afterSeq int64, limit int) ([]Envelope, error)
	// PendingPage is PendingEnvelopes that stops reading once the
	// envelopes read hold maxBytes bytes or more, the one that reaches it
	// included (maxBytes 0: no byte limit).
	PendingPage(ctx context.Context, mailbox string, afterSeq int64, limit, maxBytes int) ([]Envelope, error)
	// AckEnvelopes deletes the listed envelopes of mailbox (sequence numbers
	// of other mailboxes are ignored) and returns how many it deleted.
	// What they held is released from their senders in the same
	// transaction.
	AckEnvelopes(ctx context.Context, mailbox string, seqs []int64) (int64, error)
	// MailboxUsage returns the number and total size of stored envelopes.
	MailboxUsage(ctx context.Context, mailbox string) (count, bytes int64, err error)
	// SenderUsage returns the number and total size of the envelopes
	// sender has pending in mailbox (zero when none).
	SenderUsage(ctx context.Context, mailbox, sender string) (count, bytes int64, err error)
	// AccountUsage returns the number and total size of the envelopes
	// account has pending across all mailboxes (zero when none).
	AccountUsage(ctx context.Context, account string) (count, bytes int64, err error)
	// ExpireEnvelopes deletes envelopes whose ExpiresAt is before now,
	// releasing what they held from their senders as AckEnvelopes does.
	ExpireEnvelopes(ctx context.Context, now time.Time) (int64, error)
}

// Blobs holds attachment chunks.
type Blobs interface {
	// CreateBlob records a new blob with no chunks yet, refusing it with
	// ErrBlobQuota or ErrBlobUploads when the owner's live blobs (those
	// whose ExpiresAt is not before b.CreatedAt) leave no room under q.
	// The check and the insert are one transaction per owner, so
	// concurrent creations cannot overshoot.
	CreateBlob(ctx context.Context, b Blob, q BlobQuota) error
	GetBlob(ctx context.Context, id string) (*Blob, error)
	// PutChunk stores chunk index of blob id; storing an index that exists
	// with the same bytes succeeds (a resumed upload may resend), with other
	// bytes returns ErrExists. The blob becomes Complete when every chunk
	// is present.
	PutChunk(ctx context.Context, id string, index int64, data []byte) error
	GetChunk(ctx context.Context, id string, index int64) ([]byte, error)
	// ChunksPresent lists the indexes stored so far, ascending.
	ChunksPresent(ctx context.Context, id string) ([]int64, error)
	// MarkFetched records that device deviceID of account username has
	// downloaded the whole blob, durably and once per device, and deletes
	// the blob once Fetched reaches Recipients. A device counts only while
	// its account has completions left (Blob.MultiDevice, else one): a
	// repeat, or a device beyond its account's share, changes nothing.
	MarkFetched(ctx context.Context, id, username string, deviceID uint32) (Completion, error)
	// ExpireBlobs deletes blobs whose ExpiresAt is before now.
	ExpireBlobs(ctx context.Context, now time.Time) (int64, error)
}
