// Package apiclient speaks the hush server's HTTP API (doc/API.md) for a
// client: registration, verified directory answers, prekey bundles, relay
// login, sending and fetching envelopes. It holds no keys of its own and
// keeps no state but the server key it pins; the client library above it
// owns identities and sessions.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
)

// MaxAnswerAge is how old a signed directory answer may be.
const MaxAnswerAge = 5 * time.Minute

// MaxAnswer is the most bytes the client reads of one answer: the size
// of the largest answer the server sends, a full GET /v1/mailbox page.
const MaxAnswer = proto.MaxListAnswer

// ErrAnswerTooLarge is an answer longer than the client reads. Fetch
// handles it by asking for smaller pages.
var ErrAnswerTooLarge = errors.New("server answer too large")

// Error is an error answer from the server.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is how long the server asked the client to wait before
	// trying again (its Retry-After header), zero if it did not say.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("server: %s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

// IsCode reports whether err is a server error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Client talks to one server.
type Client struct {
	base      string
	http      *http.Client
	serverKey *identity.IdentityKey
	now       func() time.Time
	maxAnswer int // MaxAnswer; tests lower it
	cfg       Config
}

// Config adapts a Client to the program that uses it.
type Config struct {
	// HTTP sends every request (proxies, TLS roots); nil: a client with a
	// 30-second timeout.
	HTTP *http.Client
	// Unreachable, if set, builds the error for a request that got no
	// answer (default: an *UnreachableError).
	Unreachable func(what, url string, err error) error
	// KeyChanged, if set, builds the error for an answer not signed by the
	// pinned key, given both fingerprints (default: a
	// *ServerKeyChangedError).
	KeyChanged func(pinned, served string) error
}

// NewWith is New with a Config.
func NewWith(baseURL string, serverKey *identity.IdentityKey, cfg Config) *Client {
	c := New(baseURL, serverKey)
	c.cfg = cfg
	if cfg.HTTP != nil {
		c.http = cfg.HTTP
	}
	return c
}

// New returns a client for the server at baseURL. If serverKey is nil, the
// key is fetched on first use (trust on first use); pass the pinned key to
// refuse answers signed by any other.
func New(baseURL string, serverKey *identity.IdentityKey) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), serverKey: serverKey, now: time.Now, maxAnswer: MaxAnswer,
		http: &http.Client{Timeout: 30 * time.Second}}
}

// do sends a request and decodes a JSON answer into out (if not nil),
// turning error answers into *Error.
func (c *Client) do(ctx context.Context, method, path, token string, body []byte, ctype string, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unreachable(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.maxAnswer)+1))
	if err != nil {
		return nil, fmt.Errorf("server unreachable: reading the answer: %w", err)
	}
	if len(b) > c.maxAnswer {
		// Never decoded: a cut answer would fail as broken JSON.
		return nil, fmt.Errorf("%w: %s %s is over %d bytes", ErrAnswerTooLarge, method, req.URL.Path, c.maxAnswer)
	}
	if resp.StatusCode >= 300 {
		var e proto.ErrorAnswer
		ae := &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, RetryAfter: retryAfter(resp.Header)}
		if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
			ae.Code, ae.Message = "http_"+strconv.Itoa(resp.StatusCode), http.StatusText(resp.StatusCode)
		} else {
			ae.Code, ae.Message = e.Error.Code, e.Error.Message
		}
		return nil, ae
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("decoding server answer: %w", err)
		}
	}
	return b, nil
}

// retryAfter reads a Retry-After header given in seconds (the form the
// hush server uses), capped at an hour so a hostile server cannot park a
// client for ever.
func retryAfter(h http.Header) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, time.Hour)
}

func (c *Client) postJSON(ctx context.Context, path, token string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "POST", path, token, b, "application/json", out)
	return err
}

// ServerKey returns the pinned server key, fetching it on first use.
func (c *Client) ServerKey(ctx context.Context) (*identity.IdentityKey, error) {
	if c.serverKey != nil {
		return c.serverKey, nil
	}
	var r proto.ServerKeyAnswer
	if _, err := c.do(ctx, "GET", "/v1/server-key", "", nil, "", &r); err != nil {
		return nil, err
	}
	k, err := identity.NewIdentityKey(r.Key)
	if err != nil {
		return nil, err
	}
	c.serverKey = k
	return k, nil
}

// Registration is what a new account uploads.
type Registration struct {
	Username string
	Identity *identity.IdentityPrivateKey
	Cert     *identity.DeviceCert
	Keyring  *pqxdh.Keyring
	OneTime  []pqxdh.OneTimePreKey
	KEMOne   []pqxdh.KEMPreKey
	Email    string
	// Broker is the MQTT broker the device receives on in direct mode, as
	// it is published in the directory; "" for the relay.
	Broker string
	// Invite is the invite code a server with the invite policy requires.
	Invite string
}

// Register creates the account.
func (c *Client) Register(ctx context.Context, r Registration) error {
	spk, lr := r.Keyring.SignedPreKey(), r.Keyring.LastResort()
	req := proto.RegisterRequest{
		RequestHeader: proto.RequestHeader{Op: proto.OpRegister, Username: r.Username, Timestamp: c.now().Unix()},
		IdentityKey:   r.Identity.Public().Bytes(),
		DeviceUpload: proto.DeviceUpload{DeviceCert: r.Cert.Marshal(), SignedPreKey: spk.Marshal(),
			LastResortKEMPreKey: lr.Marshal()},
		Email: r.Email, Invite: r.Invite,
	}
	if r.Broker != "" {
		req.Delivery, req.Broker = proto.DeliveryDirect, r.Broker
	}
	for _, k := range r.OneTime {
		req.OneTimePreKeys = append(req.OneTimePreKeys, k.Marshal())
	}
	for _, k := range r.KEMOne {
		req.KEMOneTimePreKeys = append(req.KEMOneTimePreKeys, k.Marshal())
	}
	body, err := proto.SignRequest(r.Identity, req)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "POST", "/v1/users", "", body, "application/json", nil)
	return err
}

// Lookup fetches and verifies the directory entries of usernames.
func (c *Client) Lookup(ctx context.Context, usernames ...string) (*proto.Answer, error) {
	key, err := c.ServerKey(ctx)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(proto.LookupRequest{Usernames: usernames})
	if err != nil {
		return nil, err
	}
	raw, err := c.do(ctx, "POST", "/v1/users/lookup?device_lists=1", "", b, "application/json", nil)
	if err != nil {
		return nil, err
	}
	a, err := proto.VerifyAnswer(key, raw, MaxAnswerAge, c.now())
	if errors.Is(err, proto.ErrAnswerSignature) {
		return nil, c.keyChanged(ctx, key)
	}
	if err != nil {
		return nil, err
	}
	if err := a.CheckQuery(usernames); err != nil {
		return nil, err
	}
	return a, nil
}

// Bundle fetches and verifies a device's prekey bundle. The directory
// serves bundles to logged-in accounts only: token is a login token
// (Login) of the fetching device.
func (c *Client) Bundle(ctx context.Context, token, username string, device uint32) (*proto.BundleAnswer, error) {
	key, err := c.ServerKey(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := c.do(ctx, "GET", fmt.Sprintf("/v1/users/%s/devices/%d/bundle", url.PathEscape(username), device), token, nil, "", nil)
	if err != nil {
		return nil, err
	}
	b, err := proto.VerifyBundleAnswer(key, raw, username, device, MaxAnswerAge, c.now())
	if errors.Is(err, proto.ErrAnswerSignature) {
		return nil, c.keyChanged(ctx, key)
	}
	return b, err
}

// Session is a relay login.
type Session struct {
	Token     string
	Mailbox   string
	ExpiresAt time.Time
}

// Login proves possession of dev's envelope key and returns a relay token.
func (c *Client) Login(ctx context.Context, username string, dev *identity.DevicePrivateKey) (*Session, error) {
	var ch proto.ChallengeAnswer
	err := c.postJSON(ctx, "/v1/auth/challenge", "", proto.ChallengeRequest{Username: username, DeviceID: dev.ID()}, &ch)
	if err != nil {
		return nil, err
	}
	nonce, err := proto.OpenChallenge(dev, ch.Challenge)
	if err != nil {
		return nil, err
	}
	var tr proto.TokenAnswer
	err = c.postJSON(ctx, "/v1/auth/token", "", proto.TokenRequest{Username: username, DeviceID: dev.ID(), Response: nonce}, &tr)
	if err != nil {
		return nil, err
	}
	return &Session{Token: tr.Token, Mailbox: tr.Mailbox, ExpiresAt: time.Unix(tr.ExpiresAt, 0)}, nil
}

// Send stores an envelope in a mailbox and returns its sequence number once
// the server has committed it durably.
func (c *Client) Send(ctx context.Context, token, mailbox string, envelope []byte) (int64, error) {
	var r struct {
		Seq int64 `json:"seq"`
	}
	_, err := c.do(ctx, "POST", "/v1/mailboxes/"+url.PathEscape(mailbox)+"/envelopes", token, envelope, "application/octet-stream", &r)
	return r.Seq, err
}

// Envelope is a stored envelope fetched from the own mailbox.
type Envelope struct {
	Seq      int64  `json:"seq"`
	Envelope []byte `json:"envelope"`
	StoredAt int64  `json:"stored_at"` // Unix seconds
}

// Fetch returns up to limit pending envelopes after seq. A page the
// client cannot read whole (a server whose pages are larger than
// MaxAnswer) is asked for again with half the limit, down to one
// envelope; the caller pages on from the last seq as usual.
func (c *Client) Fetch(ctx context.Context, token string, after int64, limit int) ([]Envelope, error) {
	for {
		var r struct {
			Envelopes []Envelope `json:"envelopes"`
		}
		_, err := c.do(ctx, "GET", fmt.Sprintf("/v1/mailbox?after=%d&limit=%d", after, limit), token, nil, "", &r)
		if errors.Is(err, ErrAnswerTooLarge) && limit > 1 {
			limit /= 2
			continue
		}
		return r.Envelopes, err
	}
}

// Ack deletes processed envelopes from the own mailbox.
func (c *Client) Ack(ctx context.Context, token string, seqs []int64) (int64, error) {
	var r struct {
		Deleted int64 `json:"deleted"`
	}
	err := c.postJSON(ctx, "/v1/mailbox/ack", token, map[string]any{"seqs": seqs}, &r)
	return r.Deleted, err
}

// PreKeyCounts returns how many one-time prekeys of each kind the
// directory still holds for a device.
func (c *Client) PreKeyCounts(ctx context.Context, username string, device uint32) (*proto.PreKeyCounts, error) {
	var r proto.PreKeyCounts
	_, err := c.do(ctx, "GET", fmt.Sprintf("/v1/users/%s/devices/%d/prekeys/count", url.PathEscape(username), device), "", nil, "", &r)
	return &r, err
}

// PreKeyStatus returns the counts of a device's one-time prekeys and how
// they went out, for the device itself (token is its login token).
func (c *Client) PreKeyStatus(ctx context.Context, token, username string, device uint32) (*proto.PreKeyStatus, error) {
	var r proto.PreKeyStatus
	_, err := c.do(ctx, "GET", fmt.Sprintf("/v1/users/%s/devices/%d/prekeys/status", url.PathEscape(username), device), token, nil, "", &r)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// PreKeyUpload is what UploadPreKeys sends; nil fields are left unchanged.
type PreKeyUpload struct {
	Signed     *pqxdh.SignedPreKey
	LastResort *pqxdh.KEMPreKey
	OneTime    []pqxdh.OneTimePreKey
	KEMOne     []pqxdh.KEMPreKey
}

// UploadPreKeys adds or replaces prekeys of a device, signed by the
// identity key.
func (c *Client) UploadPreKeys(ctx context.Context, username string, id *identity.IdentityPrivateKey, device uint32, u PreKeyUpload) error {
	req := proto.PreKeysRequest{
		RequestHeader: proto.RequestHeader{Op: proto.OpPreKeys, Username: username, Timestamp: c.now().Unix()},
		DeviceID:      device,
	}
	if u.Signed != nil {
		req.SignedPreKey = u.Signed.Marshal()
	}
	if u.LastResort != nil {
		req.LastResortKEMPreKey = u.LastResort.Marshal()
	}
	for _, k := range u.OneTime {
		req.OneTimePreKeys = append(req.OneTimePreKeys, k.Marshal())
	}
	for _, k := range u.KEMOne {
		req.KEMOneTimePreKeys = append(req.KEMOneTimePreKeys, k.Marshal())
	}
	body, err := proto.SignRequest(id, req)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "POST", "/v1/prekeys", "", body, "application/json", nil)
	return err
}

// ServerInfo is what GET /v1/server-info says about the server.
type ServerInfo struct {
	Version  string `json:"version"`
	MQTTPort int    `json:"mqtt_port"`
	MQTTTLS  bool   `json:"mqtt_tls"`
	// MQTTURL is the operator's public MQTT address, or derived from the
	// server URL's host and MQTTPort when the operator set none.
	MQTTURL string `json:"mqtt_url"`
}

// ServerInfo fetches the server's public settings.
func (c *Client) ServerInfo(ctx context.Context) (*ServerInfo, error) {
	var si ServerInfo
	if _, err := c.do(ctx, "GET", "/v1/server-info", "", nil, "", &si); err != nil {
		return nil, err
	}
	if si.MQTTURL == "" {
		u, err := url.Parse(c.base)
		if err != nil {
			return nil, err
		}
		scheme := "mqtt"
		if si.MQTTTLS {
			scheme = "mqtts"
		}
		si.MQTTURL = fmt.Sprintf("%s://%s:%d", scheme, u.Hostname(), si.MQTTPort)
	}
	return &si, nil
}

// DeleteAccount deletes the account; the username stays bound to its
// identity key (a tombstone) unless the server allows reuse.
func (c *Client) DeleteAccount(ctx context.Context, username string, id *identity.IdentityPrivateKey) error {
	body, err := proto.SignRequest(id, proto.DeleteAccountRequest{
		RequestHeader: proto.RequestHeader{Op: proto.OpDeleteAccount, Username: username, Timestamp: c.now().Unix()}})
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "POST", "/v1/users/delete", "", body, "application/json", nil)
	return err
}
