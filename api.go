package hush

import (
	"log/slog"
	"net/http"
	"time"
)

// Options opens or creates a profile. The SDK reads no environment
// variable and no global setting: everything it uses is here.
type Options struct {
	// Home is the profile directory (created owner-only). Required.
	Home string
	// Passphrase unlocks the profile; everything secret in it is encrypted
	// under a key derived from it with Argon2id.
	Passphrase []byte
	// ServerURL is the hush server (Create only; Open reads it from the
	// profile unless set here).
	ServerURL string
	// BrokerURL selects direct mode: envelopes travel through this plain
	// MQTT broker (mqtt://host:port) instead of the hush relay; the server
	// at ServerURL is used only as the key directory.
	BrokerURL string
	// Invite is the invite code a server that registers by invitation
	// requires (Create only).
	Invite string

	// How the client reaches the network and reports.

	// HTTPClient sends every HTTP request to the server (directory,
	// mailbox, files): set it for a proxy, TLS roots or timeouts. Default:
	// a client with a 30-second timeout.
	HTTPClient *http.Client
	// Logger receives diagnostics (reconnects, refused envelopes, retries;
	// never a key or a message). Default: discarded.
	Logger *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// ServerKey is the fingerprint of the server's signing key as its
	// operator publishes it (hush server prints it), in any spacing and
	// case. Create then refuses, with ErrServerKeyMismatch, a server that
	// signs with another key instead of trusting the first key it sees.
	// Open checks it against the key pinned in the profile.
	ServerKey string

	// Where the profile is kept and what unlocks it.

	// Storage keeps the profile in a Store instead of the encrypted SQLite
	// database in Home: MemoryStore() for tests, bots and WebAssembly, or
	// the application's own database. Home is then optional: if set, it
	// holds only the receive lock and the send counter file. The Client
	// does not close Storage.
	Storage Store
	// Key unlocks the profile instead of Passphrase: 32 random bytes the
	// application keeps (a platform keychain, say), used without Argon2id.
	// A profile opens only with the kind of secret it was created with.
	Key []byte
}

// Message is one message of a conversation, as the user sees it.
type Message struct {
	ID         string    // 32 hex characters, chosen by the sender
	Peer       string    // the other user of the conversation; for a group, "#" and its name
	Group      string    // the group's name when the conversation is a group's (Client.Group); empty otherwise
	From       string    // sender username (Peer for incoming, self for outgoing)
	FromDevice uint32    // sender device
	To         string    // recipient username
	Text       string    // the text (empty for a data message)
	SentAt     time.Time // sender's clock
	ReceivedAt time.Time // this device's clock when stored
	Outgoing   bool
	State      State
	// Error says why an outgoing message failed, or why it is still
	// waiting in the outbox (State sending); empty otherwise.
	Error string
	// Late is set on an incoming message that arrived after messages its
	// sender wrote later (the ratchet had kept its key).
	Late bool
	// Missing counts the earlier messages of the same sender that had not
	// arrived when this one did (a gap the ratchet can see). They may
	// still come, marked Late.
	Missing int

	chain string // the sender's ratchet chain and the message's number in it (orderByCounters)
	n     uint32
	// Attachment is set when the message carries a file or a memo (a
	// long text sent as an encrypted attachment).
	Attachment *Attachment
	// Data is the payload of a data message (Client.SendData,
	// Group.SendData): 1 to MaxData opaque bytes the application chose.
	// It is nil for texts and files; Text is empty when it is set.
	Data []byte
}

// Attachment describes a file (or memo) carried by a message. The file
// itself is encrypted with the file stream format (doc/SPEC.md §7) and
// stored on the server as an opaque blob.
type Attachment struct {
	BlobID string // the server's blob id (a capability: whoever knows it may fetch the ciphertext)
	Name   string // file name as the sender gave it (no directories)
	Size   int64  // plaintext size in bytes
	Memo   bool   // a long text: Message.Text holds it once fetched
	// Path is where the decrypted file was saved on this device, once
	// downloaded and verified; empty before.
	Path string
}

// State is where a message is in its life.
type State int

const (
	StateReceived State = 1 // incoming, stored
	StateSending  State = 2 // outgoing, queued: not yet accepted by the relay, retried
	StateSent     State = 3 // outgoing, durably stored by the relay (or broker)
	StateFailed   State = 4 // outgoing, refused
)

func (s State) String() string {
	switch s {
	case StateReceived:
		return "received"
	case StateSending:
		return "sending"
	case StateSent:
		return "sent"
	case StateFailed:
		return "failed"
	}
	return "unknown"
}

// Contact is a user this profile has talked to.
type Contact struct {
	Username    string
	IdentityKey []byte // the pinned key
	Verified    bool   // the user compared safety numbers and marked it
	// Changed is set when the directory served another identity key than
	// the pinned one. Nothing is encrypted to either key until the user
	// decides: AcceptIdentity adopts NewIdentityKey; RejectIdentity keeps
	// the pinned key. The flag stays until then, even if the directory
	// serves the pinned key again (ServedPinnedAgain).
	Changed        bool
	NewIdentityKey []byte
	// ServedPinnedAgain: during the change the directory went back to
	// the pinned key. A directory that switches keys back and forth is
	// suspicious; the change still waits for the user's decision.
	ServedPinnedAgain bool
	// KeptPinned: the user refused the new key (RejectIdentity); the
	// change clears once the directory serves the pinned key again.
	KeptPinned bool
	// Held counts the messages from this contact kept unread until the
	// user accepts its new key.
	Held    int
	Devices []uint32
}

// Event is something the receive loop reports. Kind says what; the field
// it names is set.
type Event struct {
	Kind    EventKind
	Message *Message // a new incoming message
	// Sent is an outgoing message whose state changed in the background:
	// the server accepted it after a retry, or refused it for good.
	Sent *Message
	Err  error // a problem that did not stop the loop (garbage dropped, …)
	// Held is set when an envelope was kept unread because its sender's
	// identity key changed: it is delivered when the user accepts the key.
	Held *Held
	// Group is set when a group's membership changed (a change from
	// another member was applied) or someone asks to join a request room
	// this user administers.
	Group *GroupEvent
	// Devices is set when a contact's devices changed (EventDevicesChanged).
	Devices *DeviceChange
}

// Errors callers branch on (errors.Is): ErrNoProfile, ErrProfileExists,
// ErrWrongPassphrase, ErrUnknownUser, ErrServerUnreachable (an
// *UnreachableError), ErrServerKeyChanged (a *ServerKeyChangedError),
// ErrAccountDeleted (an *AccountDeletedError), ErrProfileBusy,
// ErrEmptyMessage, ErrFileGone,
// ErrIdentityChanged, ErrTooLarge, ErrUsernameTaken, ErrQueued (a
// *QueuedError); and (errors.As) *RefusedError from Sync.
