package hush

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/sessbook"
	"github.com/hush-chat/hush/internal/stream"
	"github.com/hush-chat/hush/internal/wire"
)

// Names of the profile's secrets.
const (
	secretProfile  = "profile"
	secretIdentity = "identity"
	secretDevice   = "device"
	secretCert     = "cert"
	secretKeyring  = "keyring"
	secretToken    = "relay-token"
)

// profile is the profile's settings record.
type profile struct {
	Username  string `json:"username"`
	DeviceID  uint32 `json:"device_id"`
	ServerURL string `json:"server_url"`
	BrokerURL string `json:"broker_url,omitempty"`
	MQTTURL   string `json:"mqtt_url,omitempty"` // the relay's MQTT address, if not the server's advertised one
	ServerKey []byte `json:"server_key"`         // pinned at init
}

// contactRecord is how a contact is stored (encrypted by the local store).
type contactRecord struct {
	Username       string `json:"username"`
	IdentityKey    []byte `json:"identity_key"`
	Verified       bool   `json:"verified,omitempty"`
	Changed        bool   `json:"changed,omitempty"`
	NewIdentityKey []byte `json:"new_identity_key,omitempty"`
	// ServedPinnedAgain: while Changed, the directory served the pinned
	// key again. Kept until the user decides (a directory switching keys
	// back and forth is suspicious).
	ServedPinnedAgain bool `json:"served_pinned_again,omitempty"`
	// KeptPinned: the user refused NewIdentityKey and kept the pinned key;
	// the change clears once the directory serves the pinned key again.
	KeptPinned bool            `json:"kept_pinned,omitempty"`
	Devices    []contactDevice `json:"devices"`
	// DeviceList is the newest signed device list of the contact verified
	// under IdentityKey (doc/SPEC.md §3.6), empty while the contact has
	// published none.
	DeviceList []byte `json:"device_list,omitempty"`
	// ListNote is the last note about what the directory served that was
	// not taken (DeviceChange.Note), so that it is reported once.
	ListNote  string `json:"list_note,omitempty"`
	UpdatedAt int64  `json:"updated_at"`
}

type contactDevice struct {
	ID      uint32 `json:"id"`
	Cert    []byte `json:"cert"`
	Mailbox string `json:"mailbox"`
	// Delivery is how the device receives, as the directory last said:
	// "relay", or "direct" through Broker. Empty in records stored before
	// delivery modes: sent through the own transport until refreshed.
	Delivery string `json:"delivery,omitempty"`
	Broker   string `json:"broker,omitempty"`
}

func (r *contactRecord) public() Contact {
	c := Contact{Username: r.Username, IdentityKey: r.IdentityKey, Verified: r.Verified,
		Changed: r.Changed, NewIdentityKey: r.NewIdentityKey, ServedPinnedAgain: r.ServedPinnedAgain, KeptPinned: r.KeptPinned}
	for _, d := range r.Devices {
		c.Devices = append(c.Devices, d.ID)
	}
	return c
}

// sessionRecord is a stored session with one peer device: the ratchet
// state, the tagged envelope sender and receiver (doc/SPEC.md §14.8) and
// archived sessions, in the binary encoding of internal/sessbook (old
// records, JSON, still decode).
type sessionRecord = sessbook.Record

// getSession returns the stored record of the session with device of
// user (ErrNotFound when there is none).
func getSession(tx *localstore.Tx, user string, device uint32) (sessionRecord, error) {
	raw, err := tx.GetSession(user, device)
	if err != nil {
		return sessionRecord{}, err
	}
	s, err := sessbook.Decode(raw)
	if err != nil {
		return sessionRecord{}, fmt.Errorf("client: %w with %s device %d", err, user, device)
	}
	return s, nil
}

// putSession stores the session record with device of user.
func putSession(tx *localstore.Tx, user string, device uint32, s *sessionRecord) error {
	return tx.PutSession(user, device, s.Encode())
}

// messageRecord is a stored message.
type messageRecord struct {
	ID         string `json:"id"`
	Peer       string `json:"peer"`
	From       string `json:"from"`
	FromDevice uint32 `json:"from_device"`
	To         string `json:"to"`
	Text       string `json:"text"`
	SentAt     int64  `json:"sent_at"`     // Unix ms
	ReceivedAt int64  `json:"received_at"` // Unix ms
	Outgoing   bool   `json:"outgoing,omitempty"`
	State      State  `json:"state"`
	Error      string `json:"error,omitempty"`   // why an outgoing message failed or still waits
	Tries      int    `json:"tries,omitempty"`   // delivery attempts that did not go through
	Late       bool   `json:"late,omitempty"`    // arrived after messages its sender wrote later
	Missing    int    `json:"missing,omitempty"` // earlier messages of its sender not received when it arrived
	Chain      string `json:"chain,omitempty"`   // incoming 1:1: the sender's ratchet chain (shortened key)
	N          uint32 `json:"n,omitempty"`       // incoming 1:1: the message's number in that chain
	// Attachment is set for a file or memo message (kind file).
	Attachment *attachmentRecord `json:"attachment,omitempty"`
	// Data is set for a data message (kind data): 1..MaxData opaque bytes,
	// Text then empty. Absent in records stored before data messages, and
	// in every text or file record.
	Data []byte `json:"data,omitempty"`
}

func (r *messageRecord) public() Message {
	m := Message{ID: r.ID, Peer: r.Peer, From: r.From, FromDevice: r.FromDevice, To: r.To, Text: r.Text,
		SentAt: time.UnixMilli(r.SentAt), ReceivedAt: time.UnixMilli(r.ReceivedAt), Outgoing: r.Outgoing, State: r.State, Error: r.Error, Late: r.Late, Missing: r.Missing,
		chain: r.Chain, n: r.N}
	if strings.HasPrefix(r.Peer, "#") {
		m.Group = r.Peer[1:]
	}
	if a := r.Attachment; a != nil {
		m.Attachment = &Attachment{BlobID: a.BlobID, Name: a.Name, Size: a.Size, Memo: a.Memo, Path: a.Path}
	}
	if len(r.Data) > 0 {
		m.Data = bytes.Clone(r.Data)
	}
	return m
}

// encodeApp encodes the application message a stored outgoing message
// carries: its data, its file message, or its text.
func (r *messageRecord) encodeApp() []byte {
	switch {
	case len(r.Data) > 0:
		return encodeData(r.Data)
	case r.Attachment != nil:
		return encodeFile(r.Attachment)
	}
	return encodeText(r.Text)
}

func encodeJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("client: encoding a record: " + err.Error()) // only plain structs are encoded
	}
	return b
}

func decodeJSON(b []byte, v any, what string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("client: corrupt %s record: %w", what, err)
	}
	return nil
}

func messageIDString(id [16]byte) string { return hex.EncodeToString(id[:]) }

// Application messages (doc/SPEC.md §11) are the plaintext of a ratchet
// message: u8 version || u8 kind || body.
const (
	appVersion  = 0x01
	appKindText = 0x01
	appKindFile = 0x02 // a file or memo: see fileMessage in files.go
	// Group control (groups.go, doc/SPEC.md §11.2).
	appKindGroupChange   = 0x03 // a signed group state change
	appKindGroupKey      = 0x04 // a sender key (group.Distribution)
	appKindJoinRequest   = 0x05 // a request to join a group (group.JoinRequest)
	appKindResend        = 0x06 // a request for the changes after a version (group_resend.go)
	appKindData          = 0x07 // opaque application bytes (SendData)
	appKindOffer         = 0x08 // a batch of tagged envelope keys (doc/SPEC.md §14.4), shown nothing
	appKindTranscript    = 0x09 // a message this user sent from another device (transcript.go)
	appKindRecoveryShare = 0x0a // a social recovery share for this device to hold (recovery.go)
	// MaxText is the largest text one message carries; longer texts travel
	// as attachments (memos).
	MaxText = 64 << 10
	// MaxData is the largest data one message carries (SendData): the
	// same bound as a text. Larger payloads go as files.
	MaxData = 64 << 10
)

func encodeText(text string) []byte {
	b := make([]byte, 0, 2+len(text))
	return append(append(b, appVersion, appKindText), text...)
}

func encodeData(data []byte) []byte {
	b := make([]byte, 0, 2+len(data))
	return append(append(b, appVersion, appKindData), data...)
}

// decodeData checks the body of a data message: 1..MaxData bytes. An
// empty body would be stored as a message with neither text nor data, and
// the bound keeps a peer's data to what a sender may send.
func decodeData(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, wire.Errorf("data message", "data", wire.ErrMalformed, "empty")
	}
	if len(body) > MaxData {
		return nil, wire.Errorf("data message", "data", wire.ErrTooLarge, "%d bytes", len(body))
	}
	return bytes.Clone(body), nil
}

// decodeApp parses an application message. Unknown kinds are refused, so
// a newer peer's message is reported rather than shown as garbage.
func decodeApp(b []byte) (kind uint8, body []byte, err error) {
	r := wire.NewReader("application message", b)
	r.Version(appVersion)
	kind = r.U8("kind")
	body = r.Rest()
	if err := r.Err(); err != nil {
		return 0, nil, err
	}
	if kind < appKindText || kind > appKindRecoveryShare { // group kinds: groups.go
		return 0, nil, wire.Errorf("application message", "kind", wire.ErrMalformed, "unknown kind %d", kind)
	}
	return kind, body, nil
}

// attachmentRecord is a file message as stored with its message. The
// record is encrypted at rest like every message, key included.
type attachmentRecord struct {
	BlobID string `json:"blob_id"`
	Key    []byte `json:"key"`    // the file key (secret)
	Header []byte `json:"header"` // the stream header
	Size   int64  `json:"size"`   // plaintext bytes
	SHA256 []byte `json:"sha256"` // of the plaintext
	Name   string `json:"name"`
	Memo   bool   `json:"memo,omitempty"`
	// Padded: the stream encrypts the file padded with zeros to
	// paddedFileSize(Size) (every file sent since padding exists); else
	// exactly Size bytes.
	Padded bool   `json:"padded,omitempty"`
	Path   string `json:"path,omitempty"` // where the verified file was saved
	// Pending is the name a download chose before moving the verified
	// file there: a download stopped after the move but before Path was
	// stored finds the file under it instead of fetching it again.
	Pending string `json:"pending,omitempty"`
}

// File message limits (doc/SPEC.md §11).
const (
	fileFlagMemo   = 0x01
	fileFlagPadded = 0x02 // the stream is padded to paddedFileSize(size)
	blobIDSize     = 16
	maxFileName    = 255
	// MaxFileSize is the largest plaintext a file message may declare:
	// 2^40 bytes, the file stream format's limit. A server's blob limit is
	// usually far lower.
	MaxFileSize = 1 << 40
)

// encodeFile encodes a file message (kind file).
func encodeFile(a *attachmentRecord) []byte {
	w := wire.NewWriter(make([]byte, 0, 2+1+blobIDSize+stream.KeySize+stream.HeaderSize+8+sha256.Size+1+len(a.Name)))
	w.U8(appVersion)
	w.U8(appKindFile)
	var flags uint8
	if a.Memo {
		flags |= fileFlagMemo
	}
	if a.Padded {
		flags |= fileFlagPadded
	}
	w.U8(flags)
	id, _ := base64.RawURLEncoding.DecodeString(a.BlobID) // checked by the uploader
	w.Fixed(id)
	w.Fixed(a.Key)
	w.Fixed(a.Header)
	w.U64(uint64(a.Size))
	w.Fixed(a.SHA256)
	w.Bytes8([]byte(a.Name))
	return w.Bytes()
}

// decodeFile parses the body of a file message strictly: exact sizes, no
// unknown flag, a size within limits, a plain file name, nothing after.
func decodeFile(body []byte) (*attachmentRecord, error) {
	const name = "file message"
	r := wire.NewReader(name, body)
	flags := r.U8("flags")
	id := r.Fixed("blob_id", blobIDSize)
	key := r.Fixed("file_key", stream.KeySize)
	hdr := r.Fixed("header", stream.HeaderSize)
	size := r.U64("size")
	sum := r.Fixed("sha256", sha256.Size)
	fname := r.Bytes8("name", maxFileName)
	if err := r.Done(); err != nil {
		return nil, err
	}
	// Unknown flags would mean a feature this client does not implement.
	if flags&^(fileFlagMemo|fileFlagPadded) != 0 {
		return nil, wire.Errorf(name, "flags", wire.ErrMalformed, "unknown flags %#x", flags)
	}
	// A version this client does not speak would decrypt to garbage.
	if _, err := stream.ParseHeader(hdr); err != nil {
		return nil, err
	}
	memo := flags&fileFlagMemo != 0
	// Bounds stop a sender from making a memo fetch (automatic) or a
	// file download (explicit) larger than the format allows.
	if size > MaxFileSize || (memo && size > MaxMemo) {
		return nil, wire.Errorf(name, "size", wire.ErrTooLarge, "%d bytes", size)
	}
	// The name becomes a path on the recipient's disk: a directory part,
	// "..", a leading dot or a control character could write elsewhere
	// or hide the file.
	if !validFileName(string(fname)) {
		return nil, wire.Errorf(name, "name", wire.ErrMalformed, "not a plain file name")
	}
	return &attachmentRecord{BlobID: base64.RawURLEncoding.EncodeToString(id), Key: bytes.Clone(key),
		Header: bytes.Clone(hdr), Size: int64(size), SHA256: bytes.Clone(sum), Name: string(fname), Memo: memo,
		Padded: flags&fileFlagPadded != 0}, nil
}

// validFileName reports whether name is a file name safe to create in a
// directory: 1 to 255 bytes of UTF-8, no separator, no control character,
// not starting with a dot or a space.
func validFileName(name string) bool {
	if name == "" || len(name) > maxFileName || !utf8.ValidString(name) || name[0] == '.' || name[0] == ' ' {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// sanitizeFileName turns a path into a name validFileName accepts: the
// base name, bad characters replaced by '_', leading dots and spaces
// removed, cut to 255 bytes.
func sanitizeFileName(p string) string {
	p = strings.ReplaceAll(p, "\\", "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(p, "_") {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			r = '_'
		}
		if b.Len()+utf8.RuneLen(r) > maxFileName {
			break
		}
		b.WriteRune(r)
	}
	s := strings.TrimLeft(b.String(), ". ")
	if s == "" {
		return "file"
	}
	return s
}

// streamSize is the plaintext length of the attachment's stream: the file
// and, when padded, its zero padding.
func (a *attachmentRecord) streamSize() int64 {
	if a.Padded {
		return paddedFileSize(a.Size)
	}
	return a.Size
}
