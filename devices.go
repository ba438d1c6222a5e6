package hush

import (
	"context"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/provision"
)

// LinkRequest is a new device's request to join this account, as the
// server holds it under a link code. Compare Fingerprint with what the new
// device shows before ApproveLink.
type LinkRequest struct {
	Code        string
	Fingerprint string
	slot        string
	key         []byte
}

// InspectLink fetches the request a link code names and checks that the
// server returned the key the code commits to.
func (c *Client) InspectLink(ctx context.Context, code string) (*LinkRequest, error) {
	slot, hash, err := provision.ParseCode(code)
	if err != nil {
		return nil, fmt.Errorf("%v: copy the whole code the new device shows (HUSH-LINK-…)", err)
	}
	pub, err := c.api.LinkKey(ctx, slot)
	if apiclient.IsCode(err, "unknown_link") {
		return nil, ErrLinkExpired
	}
	if err != nil {
		return nil, serverErr(err)
	}
	if err := provision.CheckKey(hash, pub); err != nil {
		return nil, fmt.Errorf("%w: do not link; the server may be trying to take the account", err)
	}
	return &LinkRequest{Code: code, Fingerprint: provision.Fingerprint(pub), slot: slot, key: pub}, nil
}

// ApproveLink hands the new device of req this account: the identity key,
// the next device id, the account's device list and the contacts (pins
// and verification), sealed to the request's key. It returns the device id
// the new device takes. The new device adds itself to the directory.
func (c *Client) ApproveLink(ctx context.Context, req *LinkRequest) (uint32, error) {
	u, err := c.lookup(ctx, c.prof.Username)
	if err != nil {
		return 0, err
	}
	m := &provision.Message{Username: c.prof.Username, IdentitySeed: c.id.Seed(), ServerKey: c.prof.ServerKey}
	defer clear(m.IdentitySeed)
	if u.DeviceList != nil {
		m.DeviceID, m.DeviceList = u.DeviceList.NextID(), u.DeviceList.Marshal()
	} else {
		m.DeviceID = 1
		for _, d := range u.Devices {
			m.DeviceID = max(m.DeviceID, d.ID+1)
		}
	}
	if m.Contacts, err = c.contactsJSON(ctx); err != nil {
		return 0, err
	}
	ct, err := provision.Seal(req.key, req.slot, m)
	if err != nil {
		return 0, err
	}
	err = c.withBearer(ctx, func(tok string) error { return c.api.AnswerLink(ctx, tok, req.slot, ct) })
	switch {
	case apiclient.IsCode(err, "unknown_link"), apiclient.IsCode(err, "link_answered"):
		return 0, ErrLinkExpired
	case err != nil:
		return 0, serverErr(err)
	}
	return m.DeviceID, nil
}

// contactsJSON is every stored contact record, as a JSON array.
func (c *Client) contactsJSON(ctx context.Context) ([]byte, error) {
	var recs []contactRecord
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		raw, err := tx.ListContacts()
		if err != nil {
			return err
		}
		for _, b := range raw {
			var r contactRecord
			if err := decodeJSON(b, &r, "contact"); err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return encodeJSON(recs), nil
}

// Device is one device of this account, as its signed device list names
// it.
type Device struct {
	ID          uint32
	Fingerprint string // of the device's certificate, for telling devices apart
	This        bool   // the device this Client runs on
	Listed      bool   // named by the account's signed device list (false: the directory serves it, no list names it)
}

// Devices lists this account's devices: the directory's, checked against
// the account's signed device list.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	u, err := c.lookup(ctx, c.prof.Username)
	if err != nil {
		return nil, err
	}
	var out []Device
	for _, d := range u.Devices {
		h := identity.CertHash(d.Cert.Marshal())
		out = append(out, Device{ID: d.ID, Fingerprint: fmt.Sprintf("%x", h[:8]), This: d.ID == c.prof.DeviceID,
			Listed: u.DeviceList == nil || u.DeviceList.Lists(d.Cert)})
	}
	return out, nil
}

// RemoveDevice removes device id from the account with the next signed
// device list: contacts stop encrypting to it and its mailbox goes. A
// device can remove itself; its profile then receives nothing more.
func (c *Client) RemoveDevice(ctx context.Context, id uint32) error {
	u, err := c.lookup(ctx, c.prof.Username)
	if err != nil {
		return err
	}
	var raw []byte
	if u.DeviceList != nil {
		if !u.DeviceList.Has(id) {
			return fmt.Errorf("device %d is not one of this account's devices (hush device list shows them)", id)
		}
		next, err := u.DeviceList.Successor(c.now().Unix(), nil, id)
		if err != nil {
			return fmt.Errorf("device %d is the account's only device: delete the account instead (hush delete-account)", id)
		}
		if raw, err = next.Sign(c.id); err != nil {
			return err
		}
	}
	err = c.api.DeleteDevice(ctx, c.prof.Username, c.id, id, raw)
	switch {
	case apiclient.IsCode(err, "unknown_device"):
		return fmt.Errorf("device %d is not one of this account's devices (hush device list shows them)", id)
	case apiclient.IsCode(err, "stale_device_list"):
		return errors.New("the account's devices changed meanwhile: run the command again")
	}
	return serverErr(err)
}
