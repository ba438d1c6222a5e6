package hush

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/backup"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
)

// RestoreBackup gets username's identity back from the backup on the
// server at o.ServerURL with the backup passphrase, and makes this
// machine a new device of it in a new profile at o.Home (protected by
// o.Passphrase or o.Key, as Create's): a fresh device key pair with the
// next unused device id, its certificate and prekeys, added to the
// account with a device list one version above the one the directory
// serves, naming exactly that list's devices and the new one. Contacts,
// groups, settings and (when the backup has it) the history are stored.
// Contacts see a device added, not an identity change: the identity key
// is the same.
//
// The passphrase try is counted by the server; a wrong passphrase gives a
// *BackupPassphraseError with the tries left, a locked account a
// *BackupLockedError. o.BrokerURL, if set, makes the new device receive
// in direct mode.
func RestoreBackup(ctx context.Context, o Options, username string, backupPassphrase []byte) (*Client, error) {
	if !proto.ValidUsername(username) {
		return nil, fmt.Errorf("invalid username %q: use 3 to 32 of a-z, 0-9, _ and -, starting with a letter or digit", username)
	}
	if err := checkNewProfile(&o, "no server given: name the server that holds the backup"); err != nil {
		return nil, err
	}
	_, statErr := os.Stat(o.Home)
	madeHome := o.Home != "" && errors.Is(statErr, fs.ErrNotExist)
	c, err := restoreProfile(ctx, o, username, backupPassphrase)
	if err != nil && madeHome {
		os.Remove(o.Home)
	}
	return c, err
}

func restoreProfile(ctx context.Context, o Options, username string, passphrase []byte) (*Client, error) {
	c := newClient(o)
	serverKey, err := c.newAPI(o.ServerURL, nil).ServerKey(ctx)
	if err != nil {
		return nil, serverErr(err)
	}
	if o.ServerKey != "" && !sameFingerprint(o.ServerKey, identity.Fingerprint(serverKey)) {
		return nil, &ServerKeyChangedError{Pinned: o.ServerKey, Served: identity.Fingerprint(serverKey), atCreate: true}
	}
	c.api = c.newAPI(o.ServerURL, serverKey)

	// Fetch first (a missing backup costs no try), then one counted try.
	b, err := fetchBackup(ctx, c.api, username)
	if err != nil {
		return nil, err
	}
	k, err := c.backupKey(ctx, c.api, b, username, passphrase)
	if err != nil {
		return nil, err
	}
	raw, err := backup.OpenWithKey(b, username, k.key)
	if err != nil {
		return nil, openErr(err, k.triesLeft)
	}
	return c.restoreFrom(ctx, o, username, raw, serverKey)
}

// restoreFrom makes a profile of the opened backup payload raw: checks its
// identity against the directory's, then adds this machine as a new device
// (linkRestored). c.api is set; serverKey is the key the server serves.
func (c *Client) restoreFrom(ctx context.Context, o Options, username string, raw []byte, serverKey *identity.IdentityKey) (*Client, error) {
	p, err := decodeBackupPayload(raw, username)
	if err != nil {
		return nil, err
	}
	id, err := identity.NewIdentityPrivateKey(p.IdentitySeed)
	if err != nil {
		return nil, fmt.Errorf("%w: its identity key does not decode", ErrBackupDamaged)
	}
	// The server key pinned when the backup was made must be the one
	// serving now, unless the caller pinned the served one.
	if pinned, err := identity.NewIdentityKey(p.ServerKey); o.ServerKey == "" && err == nil && !pinned.Equal(serverKey) {
		return nil, &ServerKeyChangedError{Pinned: identity.Fingerprint(pinned), Served: identity.Fingerprint(serverKey)}
	}
	c.id = id
	u, err := c.lookup(ctx, username)
	if err != nil {
		return nil, err
	}
	if err := checkRestoredIdentity(id, u.IdentityKey, username); err != nil {
		return nil, err
	}
	return c.linkRestored(ctx, o, p, u, serverKey)
}

// linkRestored makes the new device, stores the profile, and adds the
// device to the account with the next device list. A failure removes the
// new profile.
func (c *Client) linkRestored(ctx context.Context, o Options, p *backupPayload, u *proto.User, serverKey *identity.IdentityKey) (*Client, error) {
	published := ""
	var err error
	if o.BrokerURL != "" {
		if published, err = publishedBroker(o.BrokerURL); err != nil {
			return nil, err
		}
	}
	next, base := nextDeviceList(u)
	now := c.now()
	dev, err := identity.GenerateDevice(next)
	if err != nil {
		return nil, err
	}
	cert := identity.Certify(c.id, dev, now.Unix())
	ring, err := pqxdh.NewKeyring(c.id, next, now.Unix())
	if err != nil {
		return nil, err
	}
	list := &identity.DeviceList{Username: p.Username, Identity: c.id.Public(), Version: base.Version + 1, Created: now.Unix(),
		Devices: append(append([]identity.ListedDevice(nil), base.Devices...),
			identity.ListedDevice{ID: next, CertHash: identity.CertHash(cert.Marshal())})}
	rawList, err := list.Sign(c.id)
	if err != nil {
		return nil, err
	}
	c.dev, c.cert = dev, cert
	c.prof = profile{Username: p.Username, DeviceID: next, ServerURL: o.ServerURL, BrokerURL: o.BrokerURL, MQTTURL: p.MQTTURL,
		ServerKey: serverKey.Bytes()}
	// Stored before the device is added: a device the directory lists
	// whose keys were never stored would be a dead device in the list.
	if c.st, err = createStore(ctx, o); err != nil {
		if errors.Is(err, ErrProfileExists) {
			return nil, err
		}
		return nil, fmt.Errorf("creating profile: %w", err)
	}
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		if err := errors.Join(tx.PutSecret(secretProfile, encodeJSON(c.prof)), tx.PutSecret(secretIdentity, c.id.Seed()),
			tx.PutSecret(secretDevice, dev.Marshal()), tx.PutSecret(secretCert, cert.Marshal()),
			tx.PutSecret(secretKeyring, ring.Marshal())); err != nil {
			return err
		}
		return storeRestored(tx, p)
	})
	if err == nil {
		err = c.api.AddDevice(ctx, p.Username, c.id, apiclient.NewDevice{Cert: cert, Keyring: ring, Broker: published}, rawList)
		err = deviceAddErr(err)
	}
	if err != nil {
		c.st.Close()
		removeProfile(o)
		return nil, err
	}
	c.listChecked.Store(true)
	// The first one-time prekeys; the next receive's maintenance refills
	// them if this fails.
	if err := c.uploadInitialPreKeys(ctx, ring); err != nil {
		c.log.Warn("one-time prekeys not uploaded yet", "err", err)
	}
	if o.BrokerURL != "" {
		if err := c.primeDirect(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("restored, but the broker did not answer: %w", err)
		}
	}
	return c, nil
}

// nextDeviceList returns the id of the new device and the list the next
// one extends: the served list (verified under the account's identity
// key, which signs it) with exactly its devices, or, for an account that
// never published one, a version 0 naming the served devices (their
// certificates verified by the lookup).
func nextDeviceList(u *proto.User) (uint32, *identity.DeviceList) {
	base := u.DeviceList
	if base == nil {
		base = &identity.DeviceList{}
		for _, d := range u.Devices {
			base.Devices = append(base.Devices, identity.ListedDevice{ID: d.ID, CertHash: identity.CertHash(d.Cert.Marshal())})
		}
		sortListed(base.Devices)
	}
	var top uint32
	for _, d := range base.Devices {
		top = max(top, d.ID)
	}
	for _, d := range u.Devices {
		top = max(top, d.ID)
	}
	return top + 1, base
}

func sortListed(d []identity.ListedDevice) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j].ID < d[j-1].ID; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// uploadInitialPreKeys generates and uploads the new device's first
// one-time prekeys, storing the keyring with them first.
func (c *Client) uploadInitialPreKeys(ctx context.Context, ring *pqxdh.Keyring) error {
	otp, err := ring.GenerateOneTime(initialOneTime)
	if err != nil {
		return err
	}
	kem, err := ring.GenerateKEMOneTime(c.id, initialKEMOne)
	if err != nil {
		return err
	}
	if err := c.st.Update(ctx, func(tx *localstore.Tx) error { return tx.PutSecret(secretKeyring, ring.Marshal()) }); err != nil {
		return err
	}
	return c.api.UploadPreKeys(ctx, c.prof.Username, c.id, c.dev.ID(), apiclient.PreKeyUpload{OneTime: otp, KEMOne: kem})
}

// deviceAddErr explains the directory's refusals of the new device.
func deviceAddErr(err error) error {
	switch {
	case err == nil:
		return nil
	case apiclient.IsCode(err, "stale_device_list"), apiclient.IsCode(err, "device_list_mismatch"), apiclient.IsCode(err, "device_exists"):
		return fmt.Errorf("the account's devices changed while restoring: run the restore again (%w)", err)
	case apiclient.IsCode(err, "too_many_devices"):
		return fmt.Errorf("the account has as many devices as the server allows: remove one with hush devices remove on a device of yours, then restore again")
	}
	return serverErr(err)
}
