package proto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
)

// Answer payload types: the "type" field keeps a signed answer of one kind
// from being accepted as another.
const (
	AnswerTypeUsers  = "users"
	AnswerTypeBundle = "bundle"
)

// Account states as they appear in answers.
const (
	StatePending = "pending"
	StateActive  = "active"
	StateDeleted = "deleted"
)

// SignedAnswer is the body of every signed directory answer: a JSON
// payload and the server key's signature (LabelAnswer) over its exact
// bytes.
type SignedAnswer struct {
	Payload   []byte `json:"payload"`
	Signature []byte `json:"signature"`
}

// UsersPayload is the signed payload of an answer about users (GET
// /v1/users/{name}, POST /v1/users/lookup and every mutation).
type UsersPayload struct {
	Type         string       `json:"type"` // AnswerTypeUsers
	ServerTime   int64        `json:"server_time"`
	Query        []string     `json:"query"`
	Users        []UserRecord `json:"users"`
	Missing      []string     `json:"missing"`
	EmailIgnored bool         `json:"email_ignored,omitempty"`
	Notice       string       `json:"notice,omitempty"`
}

// UserRecord is one account in a UsersPayload.
type UserRecord struct {
	Username    string             `json:"username"`
	State       string             `json:"state"`
	IdentityKey []byte             `json:"identity_key"`
	KeyVersion  int                `json:"key_version"`
	Devices     []DeviceRecord     `json:"devices"`
	KeyHistory  []KeyHistoryRecord `json:"key_history"`
	// DeviceList is the account's signed device list (doc/SPEC.md §3.6),
	// present only when the request asked for it (?device_lists=1) and
	// the account published one.
	DeviceList []byte `json:"device_list,omitempty"`
}

// DeviceRecord is one device of a UserRecord.
type DeviceRecord struct {
	DeviceID uint32 `json:"device_id"`
	Cert     []byte `json:"cert"`
	Mailbox  string `json:"mailbox"`
	// Omitted for a relay device: such an answer reads as before
	// delivery modes existed.
	Delivery string `json:"delivery,omitempty"`
	Broker   string `json:"broker,omitempty"`
}

// KeyHistoryRecord is one identity key of a UserRecord's history.
type KeyHistoryRecord struct {
	Version     int    `json:"version"`
	IdentityKey []byte `json:"identity_key"`
	ValidFrom   int64  `json:"valid_from"`
	ValidUntil  int64  `json:"valid_until"` // 0 for the current key
	// Rotation is the statement (doc/SPEC.md §3.7) by which the previous
	// key handed over to this one; present only when the request asked
	// for device lists (?device_lists=1) and the rotation was signed.
	Rotation []byte `json:"rotation,omitempty"`
}

// BundlePayload is the signed payload of GET
// /v1/users/{name}/devices/{id}/bundle.
type BundlePayload struct {
	Type                string `json:"type"` // AnswerTypeBundle
	ServerTime          int64  `json:"server_time"`
	Username            string `json:"username"`
	DeviceID            uint32 `json:"device_id"`
	Bundle              []byte `json:"bundle"`
	OneTimeRemaining    int    `json:"one_time_remaining"`
	KEMOneTimeRemaining int    `json:"kem_one_time_remaining"`
}

// Errors of answer verification (client side).
var (
	// ErrAnswerSignature: the answer is not signed by the pinned server key.
	ErrAnswerSignature = errors.New("directory: answer signature does not verify")
	// ErrStaleAnswer: the answer's server time is older than the caller's
	// maxAge, or too far in the future.
	ErrStaleAnswer = errors.New("directory: stale answer")
	// ErrMalformedAnswer: the answer is signed but inconsistent (a user not
	// asked for, a certificate of another identity, a wrong mailbox, …).
	ErrMalformedAnswer = errors.New("directory: malformed answer")
	// ErrNotInQuery: the answer is about other usernames than the ones the
	// caller asks about — an answer replayed for another user.
	ErrNotInQuery = errors.New("directory: username not in the answer's query")
	// ErrNoSuchUser: the directory answers that the username does not exist.
	ErrNoSuchUser = errors.New("directory: no such user")
)

// Answer is a verified directory answer about users.
type Answer struct {
	ServerTime   time.Time
	Query        []string // the usernames asked, in order
	Users        []User   // the ones that exist
	Missing      []string // the ones that do not
	EmailIgnored bool     // registration: an e-mail was given but this server sends none
	Notice       string
}

// User is one account as the directory serves it.
type User struct {
	Username    string
	State       string // StatePending, StateActive or StateDeleted
	IdentityKey *identity.IdentityKey
	KeyVersion  int
	Devices     []Device // empty unless active
	KeyHistory  []KeyHistoryEntry
	// DeviceList is the user's signed device list, verified under
	// IdentityKey; nil when the answer carried none. Which served devices
	// to use is the client's decision (it holds the newest list it saw).
	DeviceList *identity.DeviceList
}

// Device is one device of a user; its certificate has been verified to be
// issued by the user's identity key, and Mailbox to be its mailbox id.
type Device struct {
	ID      uint32
	Cert    *identity.DeviceCert
	Mailbox string
	// Broker is how the device receives: "" through the relay, else the
	// MQTT broker of direct mode it listens on (checked by CheckBroker).
	Broker string
}

// KeyHistoryEntry is one identity key a user has had.
type KeyHistoryEntry struct {
	Version     int
	IdentityKey *identity.IdentityKey
	ValidFrom   time.Time
	ValidUntil  time.Time // zero for the current key
	// Rotation is the verified statement by which the previous key handed
	// over to this one (its New is IdentityKey); nil when there was none.
	Rotation *identity.Rotation
}

// User returns the record of name, ErrNoSuchUser when the answer says it
// does not exist, or ErrNotInQuery when the answer is not about name.
func (a *Answer) User(name string) (*User, error) {
	if !contains(a.Query, name) {
		return nil, fmt.Errorf("%w: %q", ErrNotInQuery, name)
	}
	for i := range a.Users {
		if a.Users[i].Username == name {
			return &a.Users[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNoSuchUser, name)
}

// CheckQuery returns ErrNotInQuery unless the answer is about exactly the
// usernames in names (in any order).
func (a *Answer) CheckQuery(names []string) error {
	if len(names) != len(a.Query) {
		return ErrNotInQuery
	}
	for _, n := range names {
		if !contains(a.Query, n) {
			return fmt.Errorf("%w: %q", ErrNotInQuery, n)
		}
	}
	return nil
}

// VerifyAnswer checks a users answer (from GET /v1/users/{name}, POST
// /v1/users/lookup or a mutation): the signature by serverKey, that its
// server time is within maxAge before now (and not more than MaxClockSkew
// after it), and that it is consistent: each name asked is reported once,
// as a user or as missing, and nothing else is; every device certificate is
// issued by the user's identity key for that device id and mailbox. The
// caller then reads users through Answer.User, which refuses names the
// answer was not asked about.
func VerifyAnswer(serverKey *identity.IdentityKey, body []byte, maxAge time.Duration, now time.Time) (*Answer, error) {
	var p UsersPayload
	if err := openAnswer(serverKey, body, &p); err != nil {
		return nil, err
	}
	if p.Type != AnswerTypeUsers {
		return nil, fmt.Errorf("%w: type %q, want %q", ErrMalformedAnswer, p.Type, AnswerTypeUsers)
	}
	t, err := checkAge(p.ServerTime, maxAge, now)
	if err != nil {
		return nil, err
	}
	a := &Answer{ServerTime: t, Query: p.Query, Missing: p.Missing, EmailIgnored: p.EmailIgnored, Notice: p.Notice}
	if err := checkPartition(p.Query, p.Users, p.Missing); err != nil {
		return nil, err
	}
	for i := range p.Users {
		u, err := verifyUser(&p.Users[i])
		if err != nil {
			return nil, err
		}
		a.Users = append(a.Users, *u)
	}
	return a, nil
}

// openAnswer checks the server signature and decodes the payload strictly.
func openAnswer(serverKey *identity.IdentityKey, body []byte, payload any) error {
	var env SignedAnswer
	if err := DecodeStrict(body, &env); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedAnswer, err)
	}
	if err := serverKey.Verify(LabelAnswer, env.Payload, env.Signature); err != nil {
		return ErrAnswerSignature
	}
	if err := DecodeStrict(env.Payload, payload); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedAnswer, err)
	}
	return nil
}

func checkAge(serverTime int64, maxAge time.Duration, now time.Time) (time.Time, error) {
	if maxAge <= 0 {
		return time.Time{}, errors.New("directory: maxAge must be positive")
	}
	t := time.Unix(serverTime, 0)
	if t.Before(now.Add(-maxAge)) || t.After(now.Add(MaxClockSkew)) {
		return time.Time{}, fmt.Errorf("%w: server time %s, now %s", ErrStaleAnswer, t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// checkPartition checks that users and missing together report each name
// of query exactly once, and nothing else.
func checkPartition(query []string, users []UserRecord, missing []string) error {
	left := make(map[string]bool, len(query))
	for _, q := range query {
		if !ValidUsername(q) || left[q] {
			return fmt.Errorf("%w: query holds an invalid or repeated username", ErrMalformedAnswer)
		}
		left[q] = true
	}
	take := func(name string) error {
		if !left[name] {
			return fmt.Errorf("%w: %q reported but not asked, or reported twice", ErrMalformedAnswer, name)
		}
		delete(left, name)
		return nil
	}
	for _, u := range users {
		if err := take(u.Username); err != nil {
			return err
		}
	}
	for _, m := range missing {
		if err := take(m); err != nil {
			return err
		}
	}
	if len(left) != 0 {
		return fmt.Errorf("%w: some usernames asked are not answered", ErrMalformedAnswer)
	}
	return nil
}

func verifyUser(u *UserRecord) (*User, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: user %q: %s", ErrMalformedAnswer, u.Username, fmt.Sprintf(format, args...))
	}
	idk, err := identity.NewIdentityKey(u.IdentityKey)
	if err != nil {
		return nil, bad("invalid identity key")
	}
	if u.State != StatePending && u.State != StateActive && u.State != StateDeleted {
		return nil, bad("unknown state %q", u.State)
	}
	if u.State != StateActive && len(u.Devices) > 0 {
		return nil, bad("devices listed for a %s account", u.State)
	}
	out := &User{Username: u.Username, State: u.State, IdentityKey: idk, KeyVersion: u.KeyVersion}
	if len(u.DeviceList) > 0 {
		if u.State != StateActive {
			return nil, bad("device list for a %s account", u.State)
		}
		l, err := identity.ParseDeviceList(u.DeviceList, idk)
		if err != nil {
			return nil, bad("device list: %v", err)
		}
		if l.Username != u.Username {
			return nil, bad("device list names %q", l.Username)
		}
		out.DeviceList = l
	}
	seen := map[uint32]bool{}
	for _, dj := range u.Devices {
		cert, err := identity.ParseDeviceCert(dj.Cert)
		if err != nil {
			return nil, bad("device %d: %v", dj.DeviceID, err)
		}
		// The certificate, not the directory, says which identity owns the
		// device and where its mail goes.
		if !cert.Identity.Equal(idk) || cert.Device != dj.DeviceID || seen[dj.DeviceID] ||
			dj.Mailbox != identity.MailboxID(idk, dj.DeviceID) {
			return nil, bad("device %d does not match its certificate", dj.DeviceID)
		}
		broker, err := CheckDelivery(dj.Delivery, dj.Broker)
		if err != nil {
			return nil, bad("device %d: %v", dj.DeviceID, err)
		}
		seen[dj.DeviceID] = true
		out.Devices = append(out.Devices, Device{ID: dj.DeviceID, Cert: cert, Mailbox: dj.Mailbox, Broker: broker})
	}
	current := false
	for _, h := range u.KeyHistory {
		hk, err := identity.NewIdentityKey(h.IdentityKey)
		if err != nil {
			return nil, bad("key history version %d: invalid key", h.Version)
		}
		e := KeyHistoryEntry{Version: h.Version, IdentityKey: hk, ValidFrom: time.Unix(h.ValidFrom, 0)}
		if len(h.Rotation) > 0 {
			rot, err := identity.ParseRotation(h.Rotation)
			if err != nil {
				return nil, bad("key history version %d: rotation: %v", h.Version, err)
			}
			if !rot.New.Equal(hk) || rot.Username != u.Username {
				return nil, bad("key history version %d: the rotation statement names another key or user", h.Version)
			}
			e.Rotation = rot
		}
		if h.ValidUntil != 0 {
			e.ValidUntil = time.Unix(h.ValidUntil, 0)
		}
		if h.Version == u.KeyVersion && h.ValidUntil == 0 && hk.Equal(idk) {
			current = true
		}
		out.KeyHistory = append(out.KeyHistory, e)
	}
	if !current {
		return nil, bad("key history lacks the current key (version %d)", u.KeyVersion)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// BundleAnswer is a verified prekey bundle answer.
type BundleAnswer struct {
	ServerTime          time.Time
	Username            string
	DeviceID            uint32
	Bundle              *pqxdh.Bundle
	OneTimeRemaining    int
	KEMOneTimeRemaining int
}

// VerifyBundleAnswer checks an answer from GET
// /v1/users/{username}/devices/{deviceID}/bundle: the server signature, its
// age, that it is about username and deviceID, and the bundle's own
// certificate and prekey signatures (pqxdh.ParseBundle). Whether the
// bundle's identity key is the user's is still the caller's check, against
// a verified Answer or a key the user has verified.
func VerifyBundleAnswer(serverKey *identity.IdentityKey, body []byte, username string, deviceID uint32,
	maxAge time.Duration, now time.Time) (*BundleAnswer, error) {
	var p BundlePayload
	if err := openAnswer(serverKey, body, &p); err != nil {
		return nil, err
	}
	if p.Type != AnswerTypeBundle {
		return nil, fmt.Errorf("%w: type %q, want %q", ErrMalformedAnswer, p.Type, AnswerTypeBundle)
	}
	t, err := checkAge(p.ServerTime, maxAge, now)
	if err != nil {
		return nil, err
	}
	if p.Username != username || p.DeviceID != deviceID {
		return nil, fmt.Errorf("%w: bundle answer is for %q device %d", ErrNotInQuery, p.Username, p.DeviceID)
	}
	b, err := pqxdh.ParseBundle(p.Bundle)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedAnswer, err)
	}
	if b.Device.Device != deviceID {
		return nil, fmt.Errorf("%w: bundle certificate is for device %d", ErrMalformedAnswer, b.Device.Device)
	}
	return &BundleAnswer{ServerTime: t, Username: p.Username, DeviceID: p.DeviceID, Bundle: b,
		OneTimeRemaining: p.OneTimeRemaining, KEMOneTimeRemaining: p.KEMOneTimeRemaining}, nil
}

// DecodeStrict decodes one JSON object, refusing unknown fields and
// trailing data: a signed payload has exactly one reading, so no field
// the verifier ignores can ride along under a signature. The error
// describes the problem without echoing the input.
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid payload: %s", JSONProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the payload")
	}
	return nil
}

// JSONProblem describes a JSON decoding error without echoing the input,
// for an error message that goes back to whoever sent it.
func JSONProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end"
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + field
	}
	return "malformed"
}
