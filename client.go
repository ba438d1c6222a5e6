// Package hush is end-to-end encrypted messaging for Go programs: a
// Client keeps a profile (identity, device keys, sessions, contacts and
// history, encrypted at rest under a passphrase), registers with a hush
// server, and sends and receives texts, files and group messages that only
// the people in the conversation can read. The server and the relay see
// ciphertext.
//
// Create makes a new identity and registers it; Open unlocks an existing
// profile. Send writes to a user, Group(name) to a group; Events (or
// Listen) receives live, Sync fetches what is pending and returns.
//
//	func main() {
//		ctx := context.Background()
//		c, err := hush.Open(ctx, hush.Options{
//			Home:       "/var/lib/mybot/hush", // made by hush.Create (or hush init)
//			Passphrase: []byte(os.Getenv("MYBOT_PASSPHRASE")),
//			ServerURL:  "https://hush.example.org",
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer c.Close()
//		if _, err := c.Send(ctx, "alice", "hello"); err != nil {
//			log.Fatal(err)
//		}
//		for ev, err := range c.Events(ctx) {
//			if err != nil {
//				log.Fatal(err)
//			}
//			if ev.Kind == hush.EventMessage {
//				fmt.Printf("%s: %s\n", ev.Message.From, ev.Message.Text)
//			}
//		}
//	}
//
// The package reads no environment variable and keeps no global state:
// Options holds the profile directory, the passphrase, the server (and
// its key fingerprint, to refuse an impostor at Create), the HTTP client
// and the logger.
//
// Where the profile lives is the application's choice: an encrypted SQLite
// database in Options.Home (what the hush command uses), MemoryStore for
// tests and short-lived programs, or any Store the application implements
// over its own database (the client seals every key and value before the
// Store sees it). It is unlocked by a passphrase (Argon2id) or by a
// 32-byte Options.Key the application keeps in a platform keychain. With a
// Store the package also builds for js/wasm and wasip1/wasm.
//
// Besides messages, Seal encrypts data for a list of users (every device
// of each, and the sender's own) so that it can be kept anywhere and opened
// later with Unseal by any of them, the sender verified; FindUsers looks up
// many users at once.
//
// Package hushtest runs a real server inside a test, so an application's
// own tests need nothing installed; package server embeds one in a program.
//
// Guarantees: a message is acknowledged to the relay only after it is
// durably stored in the profile; messages are deduplicated by id; a
// contact whose identity key changes is flagged (ErrIdentityChanged,
// EventIdentityChanged) until the user compares safety numbers and
// decides; nothing is encrypted to the new key until the user accepts it,
// and what arrives from it meanwhile is held unread and delivered on
// accept. An incoming envelope is never dropped silently: Sync returns a
// *RefusedError listing every one it refused, Events and Listen report
// each as EventRefused. Group keys, changes and messages that arrive
// before what they depend on are held (bounded, in the profile) and
// applied in order once it arrives. A Client is safe for concurrent use;
// one receive loop (Events, Listen or Sync) runs per profile at a time.
//
// Errors a caller branches on are exported: sentinels for errors.Is
// (ErrWrongPassphrase, ErrUnknownUser, ErrIdentityChanged, ErrTooLarge,
// ErrServerUnreachable, ErrRefused…) and types for errors.As
// (*UnreachableError, *RefusedError, *QueuedError…).
package hush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/provision"
	"github.com/hush-chat/hush/internal/sessbook"
)

// Prekey stock a device keeps in the directory.
const (
	initialOneTime = 100
	initialKEMOne  = 10
	refillBelow    = 20
)

// Client is an open profile.
type Client struct {
	home string
	st   *localstore.Store
	prof profile
	id   *identity.IdentityPrivateKey
	dev  *identity.DevicePrivateKey
	cert *identity.DeviceCert
	api  *apiclient.Client
	now  func() time.Time
	http *http.Client // Options.HTTPClient; nil: apiclient's default
	log  *slog.Logger // Options.Logger; never nil

	mu sync.Mutex // one send or receive step at a time: sessions and the keyring are shared state
	// lostJoins are public-room joins that lost a race here, whose authors
	// are still to be told (group_public.go); guarded by mu.
	lostJoins []lostJoin

	trMu   sync.Mutex
	tr     transport
	routes routeTransports // transports to devices that receive otherwise (route.go)

	obMu       sync.Mutex    // one pass over the outbox at a time
	outboxKick chan struct{} // wakes Listen's outbox pump (kickOutbox)
	genWritten uint64        // the count last written to GenerationFile; guarded by obMu
	restored   bool          // Open found an older copy of the profile (generation.go)

	limits limits // set at open; tests lower them

	// contactsGen counts contact writes (contacts.go), so that a receive's
	// cache of contact records (receive_batch.go) sees when one changed.
	contactsGen atomic.Uint64
	// listChecked: this run found the account's device list published
	// (or decided not to publish one): maintainDeviceList is done.
	listChecked atomic.Bool
	// certs caches verified device certificates for sends (internal/sessbook).
	certs sessbook.Certs
	// tags maps the tags of the stored tagged receivers to their sessions (tags.go).
	tags *tagTable
	// offered: an offer of envelope keys was queued since the last Sync
	// sent the outbox (tags.go).
	offered atomic.Bool
}

// limits bound what the profile keeps for others (held.go, group_held.go).
type limits struct {
	held, heldBytes           int
	groupHeld, groupHeldBytes int
}

// kickOutbox asks a running Listen to retry queued sends now.
func (c *Client) kickOutbox() {
	select {
	case c.outboxKick <- struct{}{}:
	default:
	}
}

// ErrNoHome: neither Options.Home nor Options.Storage says where the profile is.
var ErrNoHome = errors.New("no profile given: set Options.Home to a directory or Options.Storage to a store")

func (o *Options) defaults() error {
	if o.Home == "" && o.Storage == nil {
		return ErrNoHome
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	_, err := profileKey(o) // refuses an empty passphrase, a bad key or both
	return err
}

// newClient is the Client every constructor starts from.
func newClient(o Options) *Client {
	return &Client{home: o.Home, now: o.Now, log: o.Logger, http: o.HTTPClient, outboxKick: make(chan struct{}, 1), tags: newTagTable(),
		limits: limits{held: maxHeld, heldBytes: maxHeldBytes, groupHeld: maxGroupHeld, groupHeldBytes: maxGroupHeldBytes}}
}

// newAPI returns an API client for url that uses the Options' HTTP client
// and returns this package's errors.
func (c *Client) newAPI(url string, key *identity.IdentityKey) *apiclient.Client {
	return apiclient.NewWith(url, key, apiclient.Config{
		HTTP: c.http,
		Unreachable: func(what, url string, err error) error {
			return &UnreachableError{What: what, URL: url, Err: err}
		},
		KeyChanged: func(pinned, served string) error {
			return &ServerKeyChangedError{Pinned: pinned, Served: served}
		},
	})
}

// sameFingerprint compares a fingerprint as a person typed it (any case,
// spaces, colons or dashes) with one this package printed.
func sameFingerprint(typed, fp string) bool {
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch r {
			case ' ', ':', '-', '\t':
				return -1
			}
			return unicode.ToLower(r)
		}, s)
	}
	return norm(typed) == norm(fp)
}

// Create makes a new identity and device, registers username with the
// server, and stores everything in a new profile at o.Home.
func Create(ctx context.Context, o Options, username, email string) (*Client, error) {
	if !proto.ValidUsername(username) {
		return nil, fmt.Errorf("invalid username %q: use 3 to 32 of a-z, 0-9, _ and -, starting with a letter or digit", username)
	}
	if err := checkNewProfile(&o, "no server given"); err != nil {
		return nil, err
	}
	// A failed Create leaves no trace: the home directory goes too when
	// Create made it (and it is empty again).
	_, statErr := os.Stat(o.Home)
	madeHome := o.Home != "" && errors.Is(statErr, fs.ErrNotExist)
	c, err := createProfile(ctx, o, username, email, nil)
	if err != nil && madeHome {
		os.Remove(o.Home)
	}
	return c, err
}

// createProfile makes the profile of a new account (join nil), or of a
// new device of an existing one (join: what the approving device handed
// over, link.go).
func createProfile(ctx context.Context, o Options, username, email string, join *provision.Message) (*Client, error) {
	c := newClient(o)
	serverKey, err := c.newAPI(o.ServerURL, nil).ServerKey(ctx)
	if err != nil {
		return nil, serverErr(err)
	}
	if o.ServerKey != "" && !sameFingerprint(o.ServerKey, identity.Fingerprint(serverKey)) {
		return nil, &ServerKeyChangedError{Pinned: o.ServerKey, Served: identity.Fingerprint(serverKey), atCreate: true}
	}
	published := ""
	if o.BrokerURL != "" {
		if published, err = publishedBroker(o.BrokerURL); err != nil {
			return nil, err
		}
	}
	now := o.Now()
	devID := uint32(1)
	var id *identity.IdentityPrivateKey
	if join != nil {
		if !bytes.Equal(join.ServerKey, serverKey.Bytes()) {
			return nil, fmt.Errorf("%w: the approving device trusts another server key (%s) than this server's (%s): link through the same server",
				ErrServerKeyMismatch, keyFingerprint(join.ServerKey), identity.Fingerprint(serverKey))
		}
		id, err = identity.NewIdentityPrivateKey(join.IdentitySeed)
		devID = join.DeviceID
	} else {
		id, err = identity.GenerateIdentity()
	}
	if err != nil {
		return nil, err
	}
	dev, err := identity.GenerateDevice(devID)
	if err != nil {
		return nil, err
	}
	cert := identity.Certify(id, dev, now.Unix())
	ring, err := pqxdh.NewKeyring(id, devID, now.Unix())
	if err != nil {
		return nil, err
	}
	otp, err := ring.GenerateOneTime(initialOneTime)
	if err != nil {
		return nil, err
	}
	kem, err := ring.GenerateKEMOneTime(id, initialKEMOne)
	if err != nil {
		return nil, err
	}
	c.id, c.dev, c.cert = id, dev, cert
	c.prof = profile{Username: username, DeviceID: devID, ServerURL: o.ServerURL, BrokerURL: o.BrokerURL, ServerKey: serverKey.Bytes()}
	// The profile is written before registering: a registered identity
	// whose keys were never stored would be lost for good.
	if c.st, err = createStore(ctx, o); err != nil {
		if errors.Is(err, ErrProfileExists) {
			return nil, err
		}
		return nil, fmt.Errorf("creating profile: %w", err)
	}
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		return errors.Join(tx.PutSecret(secretProfile, encodeJSON(c.prof)), tx.PutSecret(secretIdentity, id.Seed()),
			tx.PutSecret(secretDevice, dev.Marshal()), tx.PutSecret(secretCert, cert.Marshal()),
			tx.PutSecret(secretKeyring, ring.Marshal()))
	})
	if err == nil && join != nil {
		c.api = c.newAPI(o.ServerURL, serverKey)
		err = c.joinAccount(ctx, join, ring, apiclient.PreKeyUpload{OneTime: otp, KEMOne: kem}, published)
	} else if err == nil {
		c.api = c.newAPI(o.ServerURL, serverKey)
		err = c.api.Register(ctx, apiclient.Registration{Username: username, Identity: id, Cert: cert,
			Keyring: ring, OneTime: otp, KEMOne: kem, Email: email, Broker: published, Invite: o.Invite})
	}
	if err != nil {
		c.st.Close()
		removeProfile(o)
		if apiclient.IsCode(err, "username_taken") {
			return nil, fmt.Errorf("%w: %s", ErrUsernameTaken, username)
		}
		return nil, registrationErr(err)
	}
	// The first device list (doc/SPEC.md §3.6). A failure here is retried
	// by the next receive's maintenance. A joining device published its
	// account's next list with itself.
	if join != nil {
		c.listChecked.Store(true)
	} else if err := c.publishFirstList(ctx); err == nil || errors.Is(err, apiclient.ErrNoDeviceLists) {
		c.listChecked.Store(true)
	} else {
		c.log.Warn("device list not published yet", "err", err)
	}
	if o.BrokerURL != "" {
		// A plain broker queues messages only for a session that exists:
		// open the device's persistent session now, so messages sent
		// before its first listen or sync are kept.
		if err := c.primeDirect(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("registered, but the broker did not answer: %w", err)
		}
	}
	return c, nil
}

func (c *Client) primeDirect(ctx context.Context) error {
	tr, err := c.transport(ctx)
	if err != nil {
		return err
	}
	d, ok := tr.(*directTransport)
	if !ok {
		return nil
	}
	cl, _, err := d.session(ctx, func([]byte) error { return errors.New("profile not ready") }, nil)
	if err != nil {
		return err
	}
	return cl.Disconnect(&paho.Disconnect{})
}

// removeProfile deletes a profile that never got registered. One in an
// application's Store stays: the Store has no way to drop a profile, and
// Create on it then says ErrProfileExists.
func removeProfile(o Options) {
	if o.Storage == nil {
		removeSQLite(o.Home)
	}
}

// Open unlocks the profile at o.Home.
func Open(ctx context.Context, o Options) (*Client, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	st, err := openStore(ctx, o)
	if err != nil {
		return nil, err
	}
	c := newClient(o)
	c.st = st
	if err := c.load(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if err := c.checkRestored(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if err := c.loadTags(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if o.ServerURL != "" {
		c.prof.ServerURL = o.ServerURL
	}
	if o.BrokerURL != "" {
		c.prof.BrokerURL = o.BrokerURL
	}
	sk, err := identity.NewIdentityKey(c.prof.ServerKey)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("profile: server key: %w", err)
	}
	if o.ServerKey != "" && !sameFingerprint(o.ServerKey, identity.Fingerprint(sk)) {
		st.Close()
		return nil, &ServerKeyChangedError{Pinned: o.ServerKey, Served: identity.Fingerprint(sk), atCreate: true}
	}
	c.api = c.newAPI(c.prof.ServerURL, sk)
	return c, nil
}

func (c *Client) load(ctx context.Context) error {
	return c.st.View(ctx, func(tx *localstore.Tx) error {
		var errs []error
		get := func(name string) []byte {
			b, err := tx.GetSecret(name)
			if err != nil {
				errs = append(errs, fmt.Errorf("profile: %s: %w", name, err))
			}
			return b
		}
		pb, seed, devb, certb := get(secretProfile), get(secretIdentity), get(secretDevice), get(secretCert)
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if err := decodeJSON(pb, &c.prof, "profile"); err != nil {
			return err
		}
		var e1, e2, e3 error
		c.id, e1 = identity.NewIdentityPrivateKey(seed)
		c.dev, e2 = identity.ParseDevicePrivateKey(devb)
		c.cert, e3 = identity.ParseDeviceCert(certb)
		return errors.Join(e1, e2, e3)
	})
}

// Close stops the transport and closes the profile.
func (c *Client) Close() error {
	c.trMu.Lock()
	if c.tr != nil {
		c.tr.close()
		c.tr = nil
	}
	c.trMu.Unlock()
	return c.st.Close()
}

// Username returns the profile's username.
func (c *Client) Username() string { return c.prof.Username }

// DeviceID returns this device's id.
func (c *Client) DeviceID() uint32 { return c.dev.ID() }

// ServerURL returns the server the profile uses.
func (c *Client) ServerURL() string { return c.prof.ServerURL }

// Fingerprint returns the fingerprint of the own identity key.
func (c *Client) Fingerprint() string { return identity.Fingerprint(c.id.Public()) }

// Config returns the profile's settings.
func (c *Client) Config() map[string]string {
	return map[string]string{"username": c.prof.Username, "server": c.prof.ServerURL, "broker": c.prof.BrokerURL,
		"mqtt": c.prof.MQTTURL, "device": fmt.Sprint(c.prof.DeviceID), "home": c.home}
}

// SetConfig changes a setting: "server" (the server URL), "broker"
// (direct mode's MQTT broker; empty to use the relay) or "mqtt" (the
// relay's MQTT address when it differs from what the server advertises).
func (c *Client) SetConfig(ctx context.Context, key, value string) error {
	p := c.prof
	var err error
	switch key {
	case "server":
		p.ServerURL, err = value, checkServerURL(value)
	case "broker":
		if err := checkMQTTURL(key, value); err != nil {
			return err
		}
		p.BrokerURL = value
		if err := c.publishDelivery(ctx, value); err != nil { // senders route by the directory (route.go)
			return err
		}
	case "mqtt":
		p.MQTTURL, err = value, checkMQTTURL(key, value)
	default:
		return fmt.Errorf("unknown setting %q: the settings are %s", key, strings.Join(settingKeys, ", "))
	}
	if err != nil {
		return err
	}
	if err := c.st.Update(ctx, func(tx *localstore.Tx) error { return tx.PutSecret(secretProfile, encodeJSON(p)) }); err != nil {
		return err
	}
	c.prof = p
	return nil
}

// TrustServerKey pins the signing key the server now serves, replacing
// the one pinned at init, and returns its fingerprint. Call it only when
// the user trusts the change (the operator replaced or restored the
// server key): every directory answer is checked against this key.
func (c *Client) TrustServerKey(ctx context.Context) (string, error) {
	k, err := c.newAPI(c.prof.ServerURL, nil).ServerKey(ctx)
	if err != nil {
		return "", serverErr(err)
	}
	p := c.prof
	p.ServerKey = k.Bytes()
	if err := c.st.Update(ctx, func(tx *localstore.Tx) error { return tx.PutSecret(secretProfile, encodeJSON(p)) }); err != nil {
		return "", err
	}
	c.prof = p
	c.api = c.newAPI(p.ServerURL, k)
	return identity.Fingerprint(k), nil
}

// serverErr turns transport failures into an *UnreachableError (which
// matches ErrServerUnreachable) and keeps server answers as they are.
func serverErr(err error) error {
	var ne net.Error
	var ae *apiclient.Error
	var ue *UnreachableError
	switch {
	case err == nil, errors.As(err, &ae), errors.As(err, &ue):
		return err
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return &UnreachableError{What: "server", URL: "(unknown)", Err: err}
	}
	return err
}

// IdentityKey returns the own public identity key (its 32 bytes, as
// Contact.IdentityKey holds other users' keys).
func (c *Client) IdentityKey() []byte { return c.id.Public().Bytes() }

// ServerFingerprint returns the fingerprint of the server signing key the
// profile pins: the value for Options.ServerKey.
func (c *Client) ServerFingerprint() string {
	k, err := identity.NewIdentityKey(c.prof.ServerKey)
	if err != nil {
		return ""
	}
	return identity.Fingerprint(k)
}

// Mailbox returns the relay mailbox this device receives in (hex): the
// name the server knows it by.
func (c *Client) Mailbox() string { return identity.MailboxID(c.id.Public(), c.dev.ID()) }

// DeleteAccount deletes the account from the server. The local profile is
// left in place (its history stays readable); it can no longer send.
func (c *Client) DeleteAccount(ctx context.Context) error {
	return serverErr(c.api.DeleteAccount(ctx, c.prof.Username, c.id))
}
