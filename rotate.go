package hush

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
)

// secretRotation holds a rotation begun but not known to have reached the
// server (the new identity seed, device key and keyring), so a crash or a
// lost answer never loses the key the directory may already serve.
const secretRotation = "rotation-pending"

type pendingRotation struct {
	Seed    []byte `json:"seed"`
	Device  []byte `json:"device"`
	Cert    []byte `json:"cert"`
	Keyring []byte `json:"keyring"`
}

// RotateIdentity replaces this account's identity key with a new one that
// the old key signs over to (doc/SPEC.md §3.7): contacts move to the new key
// without an identity-change warning, and keep it verified if they had
// verified the old one. This device gets new device keys under the new
// identity; sessions start anew. History stays readable. An account with
// other devices must remove them first (they would be signed out); link
// them again afterwards.
func (c *Client) RotateIdentity(ctx context.Context) error {
	u, err := c.lookup(ctx, c.prof.Username)
	if err != nil {
		return err
	}
	if p, err := c.pendingRotation(ctx); err != nil {
		return err
	} else if p != nil && bytes.Equal(u.IdentityKey.Bytes(), mustPublic(p.Seed)) {
		return c.finishRotation(ctx, p) // the server took it; the answer was lost
	}
	if !u.IdentityKey.Equal(c.id.Public()) {
		return errors.New("the directory serves another identity key for this account than this device holds: not rotating")
	}
	var others []uint32
	for _, d := range u.Devices {
		if d.ID != c.prof.DeviceID {
			others = append(others, d.ID)
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("the account has other devices %v: a rotation would sign them out; remove them first (hush device remove) and link them again afterwards", others)
	}
	next, err := identity.GenerateIdentity()
	if err != nil {
		return err
	}
	now := c.now().Unix()
	dev, err := identity.GenerateDevice(c.prof.DeviceID)
	if err != nil {
		return err
	}
	cert := identity.Certify(next, dev, now)
	ring, err := pqxdh.NewKeyring(next, c.prof.DeviceID, now)
	if err != nil {
		return err
	}
	p := &pendingRotation{Seed: next.Seed(), Device: dev.Marshal(), Cert: cert.Marshal(), Keyring: ring.Marshal()}
	if err := c.st.Update(ctx, func(tx *localstore.Tx) error { return tx.PutSecret(secretRotation, encodeJSON(p)) }); err != nil {
		return err
	}
	rot, err := identity.SignRotation(c.prof.Username, c.id, next.Public(), now)
	if err != nil {
		return err
	}
	l, err := identity.NewDeviceList(c.prof.Username, 1, now, cert)
	if err != nil {
		return err
	}
	list, err := l.Sign(next)
	if err != nil {
		return err
	}
	err = c.api.Rotate(ctx, c.prof.Username, c.id, next, []apiclient.NewDevice{{Cert: cert, Keyring: ring, Broker: c.publishedBroker()}}, rot.Marshal(), list)
	var ae *apiclient.Error
	if errors.As(err, &ae) {
		// Refused: the old key stays; forget the new one.
		c.st.Update(ctx, func(tx *localstore.Tx) error { return tx.PutSecret(secretRotation, []byte("null")) })
		return serverErr(err)
	}
	if err != nil {
		return fmt.Errorf("%w (the new key is kept: run the rotation again to finish it)", serverErr(err))
	}
	return c.finishRotation(ctx, p)
}

func mustPublic(seed []byte) []byte {
	k, err := identity.NewIdentityPrivateKey(seed)
	if err != nil {
		return nil
	}
	return k.Public().Bytes()
}

func (c *Client) publishedBroker() string {
	if c.prof.BrokerURL == "" {
		return ""
	}
	b, _ := publishedBroker(c.prof.BrokerURL)
	return b
}

func (c *Client) pendingRotation(ctx context.Context) (*pendingRotation, error) {
	var p *pendingRotation
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		b, err := tx.GetSecret(secretRotation)
		if errors.Is(err, localstore.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return decodeJSON(b, &p, "pending rotation")
	})
	return p, err
}

// finishRotation makes the new keys this profile's, drops every session
// (they were made with the old device keys) and the relay login, and
// uploads one-time prekeys for the new device.
func (c *Client) finishRotation(ctx context.Context, p *pendingRotation) error {
	id, err := identity.NewIdentityPrivateKey(p.Seed)
	if err != nil {
		return err
	}
	dev, err := identity.ParseDevicePrivateKey(p.Device)
	if err != nil {
		return err
	}
	cert, err := identity.ParseDeviceCert(p.Cert)
	if err != nil {
		return err
	}
	ring, err := pqxdh.ParseKeyring(p.Keyring)
	if err != nil {
		return err
	}
	c.mu.Lock()
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		if err := forEachContactDevice(tx, func(user string, device uint32) error { return dropSession(tx, c, user, device) }); err != nil {
			return err
		}
		return errors.Join(tx.PutSecret(secretIdentity, p.Seed), tx.PutSecret(secretDevice, p.Device),
			tx.PutSecret(secretCert, p.Cert), tx.PutSecret(secretKeyring, p.Keyring),
			tx.PutSecret(secretToken, []byte("{}")), tx.PutSecret(secretRotation, []byte("null")))
	})
	if err == nil {
		c.id, c.dev, c.cert = id, dev, cert
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.trMu.Lock()
	c.tr = nil // the mailbox derives from the identity key
	c.trMu.Unlock()
	c.listChecked.Store(true)
	otp, err := ring.GenerateOneTime(initialOneTime)
	if err != nil {
		return err
	}
	kem, err := ring.GenerateKEMOneTime(id, initialKEMOne)
	if err != nil {
		return err
	}
	if err := c.st.Update(ctx, func(tx *localstore.Tx) error { return tx.PutSecret(secretKeyring, ring.Marshal()) }); err != nil {
		return err
	}
	return serverErr(c.api.UploadPreKeys(ctx, c.prof.Username, id, c.prof.DeviceID, apiclient.PreKeyUpload{OneTime: otp, KEMOne: kem}))
}

// rotatedTo reports whether the key history u carries hands over, by a
// chain of rotation statements each signed by the key before it, from
// pinned to u's current key.
func rotatedTo(pinned []byte, u *proto.User) bool {
	cur := pinned
	for _, h := range u.KeyHistory {
		if h.Rotation == nil || !bytes.Equal(h.Rotation.Old.Bytes(), cur) {
			continue
		}
		cur = h.Rotation.New.Bytes()
	}
	return bytes.Equal(cur, u.IdentityKey.Bytes()) && !bytes.Equal(cur, pinned)
}
