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
	if m.Groups, err = c.groupsForLink(ctx); err != nil {
		return 0, err
	}
	if err := fitsLink(m, 64<<10); err != nil { // room for the changes below
		return 0, err
	}
	// The groups list the new device before they are handed over, so its
	// state names it from the start; the members learn it from the
	// "devices" changes, sent now. Should the link not complete, the id
	// only names a device the directory does not serve: nothing goes to it.
	if devs, err := c.ownGroupDevices(ctx, m.DeviceID); err != nil {
		return 0, err
	} else if err := c.setGroupDevices(ctx, devs, false); err != nil {
		c.log.Warn("announcing the new device to the groups", "err", err) // queued; the outbox retries
	}
	if m.Groups, err = c.groupsForLink(ctx); err != nil {
		return 0, err
	}
	if err := fitsLink(m, 0); err != nil {
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

// maxProvisioning bounds the contacts and groups of a provisioning
// message together: the server takes an answer of at most 4 MiB
// (links.MaxAnswer), sent base64 in JSON.
const maxProvisioning = 2<<20 + 512<<10

// fitsLink checks that m's contacts and groups, with slack bytes more,
// fit a provisioning message.
func fitsLink(m *provision.Message, slack int) error {
	if len(m.Contacts)+len(m.Groups)+slack > maxProvisioning || len(m.Contacts) > provision.MaxContacts ||
		len(m.Groups)+slack > provision.MaxGroups {
		return fmt.Errorf("%w: this account's contacts and groups do not fit a link message; leave groups you no longer use and try again", ErrTooLarge)
	}
	return nil
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
	// Every group drops the device: the members start new sender keys and
	// hand them only to the devices that remain. A device removing itself
	// tells the groups first, while it can still send.
	var left []uint32
	for _, d := range u.Devices {
		if d.ID != id && (u.DeviceList == nil || u.DeviceList.Lists(d.Cert)) {
			left = append(left, d.ID)
		}
	}
	if id == c.dev.ID() && len(left) > 0 {
		if err := c.setGroupDevices(ctx, capDevices(left, left[0]), false); err != nil {
			c.log.Warn("announcing the removal to the groups", "err", err)
		}
	}
	err = c.api.DeleteDevice(ctx, c.prof.Username, c.id, id, raw)
	switch {
	case apiclient.IsCode(err, "unknown_device"):
		return fmt.Errorf("device %d is not one of this account's devices (hush device list shows them)", id)
	case apiclient.IsCode(err, "stale_device_list"):
		return errors.New("the account's devices changed meanwhile: run the command again")
	case err != nil:
		return serverErr(err)
	}
	if id != c.dev.ID() {
		if err := c.setGroupDevices(ctx, capDevices(left, c.dev.ID()), false); err != nil {
			c.log.Warn("announcing the removal to the groups", "err", err) // queued; the outbox retries
		}
	}
	return nil
}
