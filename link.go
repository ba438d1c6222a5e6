package hush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/provision"
)

// Linking a device (doc/DEVICES.md §3, doc/SPEC.md §3.8): the new device
// opens a link slot on the server with a one-time key and shows a link
// code; a device of the account checks the code, shows the same
// fingerprint, and posts the provisioning message (the identity key, a
// device id, the account's device list and contacts) sealed to that key;
// the new device makes its own device keys and adds itself to the account
// with the next signed device list.

// ErrLinkExpired: the link request is gone (it waited SlotTTL, or was
// answered or fetched already).
var ErrLinkExpired = errors.New("the link request expired or was already used: run hush device link again on the new device")

// Link is a new device waiting to be approved by a device of the account.
type Link struct {
	o         Options
	c         *Client // the not yet created profile's client (API only)
	key       *provision.Key
	slot      string
	code      string
	expires   time.Time
	serverFpr string
}

// StartLink opens a link request on o.ServerURL for a new profile at
// o.Home (which must not hold one). Show Code (and its QR code) and
// Fingerprint to the person, then Wait.
func StartLink(ctx context.Context, o Options) (*Link, error) {
	if err := checkNewProfile(&o, "no server given"); err != nil {
		return nil, err
	}
	c := newClient(o)
	api := c.newAPI(o.ServerURL, nil)
	sk, err := api.ServerKey(ctx)
	if err != nil {
		return nil, serverErr(err)
	}
	if o.ServerKey != "" && !sameFingerprint(o.ServerKey, identity.Fingerprint(sk)) {
		return nil, &ServerKeyChangedError{Pinned: o.ServerKey, Served: identity.Fingerprint(sk), atCreate: true}
	}
	key, err := provision.NewKey()
	if err != nil {
		return nil, err
	}
	ans, err := api.OpenLink(ctx, key.Public())
	if err != nil {
		return nil, serverErr(err)
	}
	code, err := provision.Code(ans.ID, key.Public())
	if err != nil {
		return nil, fmt.Errorf("the server answered a malformed link id: %w", err)
	}
	c.api = api
	return &Link{o: o, c: c, key: key, slot: ans.ID, code: code, expires: time.Unix(ans.ExpiresAt, 0),
		serverFpr: identity.Fingerprint(sk)}, nil
}

// Code is the link code to give the approving device (hush device approve).
func (l *Link) Code() string { return l.code }

// Fingerprint is what the approving device shows too: the person checks
// they are the same.
func (l *Link) Fingerprint() string { return provision.Fingerprint(l.key.Public()) }

// ExpiresAt is when the server forgets the request.
func (l *Link) ExpiresAt() time.Time { return l.expires }

// Wait waits for the approval, then creates the profile as a new device of
// the account and returns it open.
func (l *Link) Wait(ctx context.Context) (*Client, error) {
	var ct []byte
	for ct == nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var err error
		ct, err = l.c.api.FetchLinkAnswer(ctx, l.slot, 20)
		if apiclient.IsCode(err, "unknown_link") {
			return nil, ErrLinkExpired
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, serverErr(err)
		}
	}
	m, err := l.key.Open(l.slot, ct)
	if err != nil {
		return nil, fmt.Errorf("the approval does not open with this request's key (%v): run hush device link again", err)
	}
	_, statErr := os.Stat(l.o.Home)
	madeHome := l.o.Home != "" && errors.Is(statErr, fs.ErrNotExist)
	c, err := createProfile(ctx, l.o, m.Username, "", m)
	if err != nil {
		if madeHome {
			os.Remove(l.o.Home)
		}
		return nil, err
	}
	if err := c.importContacts(ctx, m.Contacts); err != nil {
		c.log.Warn("contacts from the approving device not kept", "err", err)
	}
	if err := c.importGroups(ctx, m.Groups); err != nil {
		c.log.Warn("groups from the approving device not kept", "err", err)
	}
	return c, nil
}

// joinAccount adds this new device to the account with the next device
// list: the newest of the list the approving device handed over and the
// one the directory serves (both signed by the identity key, so neither
// can be forged), with this device added. An account that never published
// a list gets its first: the served devices whose certificates carry the
// identity key, and this one.
func (c *Client) joinAccount(ctx context.Context, m *provision.Message, ring *pqxdh.Keyring, pre apiclient.PreKeyUpload, broker string) error {
	u, err := c.lookup(ctx, m.Username)
	if err != nil {
		return err
	}
	if !u.IdentityKey.Equal(c.id.Public()) {
		return errors.New("the directory serves another identity key for this account than the approving device holds: do not link; compare fingerprints with hush whoami")
	}
	base := u.DeviceList
	if len(m.DeviceList) > 0 {
		handed, err := identity.ParseDeviceList(m.DeviceList, c.id.Public())
		if err != nil {
			return fmt.Errorf("the device list from the approving device: %w", err)
		}
		if base == nil || handed.Version > base.Version {
			base = handed
		}
	}
	var next *identity.DeviceList
	if base != nil {
		if base.Has(c.cert.Device) {
			return fmt.Errorf("device %d is already in the account's device list: run hush device approve again", c.cert.Device)
		}
		next, err = base.Successor(c.now().Unix(), c.cert, 0)
	} else {
		certs := []*identity.DeviceCert{c.cert}
		for _, d := range u.Devices {
			certs = append(certs, d.Cert) // verified under the identity key by the answer's check
		}
		next, err = identity.NewDeviceList(m.Username, 1, c.now().Unix(), certs...)
	}
	if err != nil {
		return err
	}
	raw, err := next.Sign(c.id)
	if err != nil {
		return err
	}
	err = c.api.AddDevice(ctx, m.Username, c.id, apiclient.NewDevice{Cert: c.cert, Keyring: ring, Broker: broker}, raw)
	switch {
	case apiclient.IsCode(err, "stale_device_list"):
		return errors.New("the account's devices changed while linking: run hush device link again")
	case apiclient.IsCode(err, "device_exists"):
		return fmt.Errorf("device %d already exists: run hush device approve again", c.cert.Device)
	case err != nil:
		return err
	}
	// The one-time prekeys go up after the device exists.
	return c.api.UploadPreKeys(ctx, m.Username, c.id, c.cert.Device, pre)
}

// keyFingerprint is identity.Fingerprint of an encoded key ("?" if it is
// not one).
func keyFingerprint(b []byte) string {
	k, err := identity.NewIdentityKey(b)
	if err != nil {
		return "?"
	}
	return identity.Fingerprint(k)
}

// importContacts stores the contacts an approving device handed over, as
// they were there (pins and verification included), where this profile
// has none of that name.
func (c *Client) importContacts(ctx context.Context, raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	var recs []contactRecord
	if err := json.Unmarshal(raw, &recs); err != nil {
		return fmt.Errorf("contacts: %w", err)
	}
	return c.st.Update(ctx, func(tx *localstore.Tx) error {
		for _, r := range recs {
			if r.Username == "" || r.Username == c.prof.Username {
				continue
			}
			if _, err := tx.GetContact(r.Username); err == nil {
				continue
			} else if !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
			if err := tx.PutContact(r.Username, encodeJSON(r)); err != nil {
				return err
			}
		}
		c.contactsGen.Add(1)
		return nil
	})
}

// checkNewProfile checks the options of a call that makes a new profile
// (Create, StartLink, RestoreBackup, StartRecovery): defaults, the secret
// that will lock it, a server URL (noServer says which, when missing), a
// broker URL that parses, and no profile at o.Home yet.
func checkNewProfile(o *Options, noServer string) error {
	if err := o.defaults(); err != nil {
		return err
	}
	if _, err := profileKey(o); err != nil {
		return err
	}
	if o.ServerURL == "" {
		return errors.New(noServer)
	}
	if err := errors.Join(checkServerURL(o.ServerURL), checkMQTTURL("broker", o.BrokerURL)); err != nil {
		return err
	}
	if o.Storage == nil && sqliteExists(o.Home) {
		return ErrProfileExists
	}
	return nil
}
