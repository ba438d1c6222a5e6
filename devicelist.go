package hush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/proto"
)

// DeviceChange says that a contact's set of devices changed (a device
// linked or removed), as their signed device list (doc/SPEC.md §3.6) or,
// for a contact that publishes none, the directory says. Note is set when
// the directory served something the client did not take: an older list
// than one it holds, no list for a contact that publishes them, or devices
// no list names.
type DeviceChange struct {
	User    string
	Added   []uint32
	Removed []uint32
	Note    string
	// Rotated: the user replaced their identity key with one the old key
	// signed over to (doc/SPEC.md §3.7); the contact moved to it without
	// an identity-change warning.
	Rotated bool
}

func (d *DeviceChange) String() string {
	ids := func(verb string, l []uint32) string {
		if len(l) == 1 {
			return fmt.Sprintf("%s %s device %d", d.User, verb, l[0])
		}
		parts := make([]string, len(l))
		for i, id := range l {
			parts[i] = fmt.Sprint(id)
		}
		return fmt.Sprintf("%s %s devices %s", d.User, verb, strings.Join(parts, ", "))
	}
	var out []string
	if len(d.Added) > 0 {
		out = append(out, ids("added", d.Added))
	}
	if len(d.Removed) > 0 {
		out = append(out, ids("removed", d.Removed))
	}
	if d.Note != "" {
		out = append(out, d.User+": "+d.Note)
	}
	return strings.Join(out, "; ")
}

// secretDeviceNotices holds the device changes seen while nobody was
// listening, reported at the next receive (maintain); at most
// maxDeviceNotices are kept, the oldest dropped first.
const (
	secretDeviceNotices = "device_notices"
	maxDeviceNotices    = 100
)

// listedDevices picks, from what the directory served for a contact whose
// key is the pinned one, the devices to use and the device list to keep:
//
//   - a served list that succeeds the held one (or the first one) is
//     adopted; an older or forked list is refused and the held one kept;
//   - with a list, only the served devices it names with exactly their
//     certificates are used; served devices it does not name are ignored;
//   - a contact that published a list once keeps needing one: when the
//     directory serves none, the held list still filters the devices;
//   - a contact that never published one uses the devices as served.
func listedDevices(rec *contactRecord, u *proto.User) (devs []contactDevice, list []byte, note string) {
	served := verifiedDevices(rec.IdentityKey, u.Devices)
	var held *identity.DeviceList
	if len(rec.DeviceList) > 0 {
		key, err := identity.NewIdentityKey(rec.IdentityKey)
		if err == nil {
			held, _ = identity.ParseDeviceList(rec.DeviceList, key)
		}
	}
	use := held
	switch next := u.DeviceList; {
	case next == nil && held == nil:
		return served, nil, ""
	case next == nil:
		note = "the directory served no device list; the last one verified still applies"
	case held == nil:
		use = next
	default:
		if err := held.CheckSuccessor(next); err != nil {
			note = fmt.Sprintf("the directory served an older device list (version %d, holding %d): kept the newer one", next.Version, held.Version)
		} else {
			use = next
		}
	}
	var skipped []uint32
	for _, d := range served {
		cert, err := identity.ParseDeviceCert(d.Cert)
		if err == nil && use.Lists(cert) {
			devs = append(devs, d)
		} else {
			skipped = append(skipped, d.ID)
		}
	}
	if len(skipped) > 0 && note == "" {
		note = fmt.Sprintf("the directory served device %v, which the user's signed device list does not name: not used", skipped)
	}
	return devs, use.Marshal(), note
}

// deviceDiff compares two device sets by id and certificate.
func deviceDiff(old, next []contactDevice) (added, removed []uint32) {
	same := func(d contactDevice, in []contactDevice) bool {
		return slices.ContainsFunc(in, func(e contactDevice) bool { return e.ID == d.ID && bytes.Equal(e.Cert, d.Cert) })
	}
	for _, d := range next {
		if !same(d, old) {
			added = append(added, d.ID)
		}
	}
	for _, d := range old {
		if !same(d, next) {
			removed = append(removed, d.ID)
		}
	}
	return added, removed
}

// noteDevices queues ch for the next receive's events, in tx.
func noteDevices(tx *localstore.Tx, ch DeviceChange) error {
	var list []DeviceChange
	b, err := tx.GetSecret(secretDeviceNotices)
	switch {
	case errors.Is(err, localstore.ErrNotFound):
	case err != nil:
		return err
	default:
		if err := decodeJSON(b, &list, "device notices"); err != nil {
			return err
		}
	}
	list = append(list, ch)
	if len(list) > maxDeviceNotices {
		list = list[len(list)-maxDeviceNotices:]
	}
	return tx.PutSecret(secretDeviceNotices, encodeJSON(list))
}

// reportDeviceChanges hands the queued device changes to report as
// EventDevicesChanged, then forgets them.
func (c *Client) reportDeviceChanges(ctx context.Context, report func(Event)) error {
	if report == nil {
		return nil
	}
	var list []DeviceChange
	read := func(tx *localstore.Tx) error {
		b, err := tx.GetSecret(secretDeviceNotices)
		if errors.Is(err, localstore.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return decodeJSON(b, &list, "device notices")
	}
	// Read first: most receives have nothing to report and write nothing.
	if err := c.st.View(ctx, read); err != nil || len(list) == 0 {
		return err
	}
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		list = nil
		if err := read(tx); err != nil || len(list) == 0 {
			return err
		}
		return tx.PutSecret(secretDeviceNotices, encodeJSON([]DeviceChange{}))
	})
	for i := range list {
		report(Event{Kind: EventDevicesChanged, Devices: &list[i]})
	}
	return err
}

// maintainDeviceList publishes the first device list of an account made
// before device lists (or whose first publication failed): one naming this
// device, when the directory serves exactly this device. An account whose
// directory entry shows devices this profile does not know is left alone
// and reported: signing a list is vouching for every device in it.
func (c *Client) maintainDeviceList(ctx context.Context, report func(Event)) error {
	if c.prof.ServerURL == "" || c.listChecked.Load() {
		return nil
	}
	u, err := c.lookup(ctx, c.prof.Username)
	if err != nil {
		return err
	}
	if u.DeviceList != nil {
		c.listChecked.Store(true)
		return nil
	}
	if len(u.Devices) != 1 || u.Devices[0].ID != c.prof.DeviceID || !bytes.Equal(u.Devices[0].Cert.Marshal(), c.cert.Marshal()) {
		c.listChecked.Store(true)
		if report != nil {
			report(Event{Kind: EventWarning, Err: fmt.Errorf("the directory lists %d devices for this account, not just this one: no device list was published", len(u.Devices))})
		}
		return nil
	}
	err = c.publishFirstList(ctx)
	if err == nil || errors.Is(err, apiclient.ErrNoDeviceLists) || apiclient.IsCode(err, "stale_device_list") {
		c.listChecked.Store(true)
		return nil
	}
	return serverErr(err)
}

// publishFirstList signs and publishes version 1 of the device list: this
// device alone.
func (c *Client) publishFirstList(ctx context.Context) error {
	l, err := identity.NewDeviceList(c.prof.Username, 1, c.now().Unix(), c.cert)
	if err != nil {
		return err
	}
	raw, err := l.Sign(c.id)
	if err != nil {
		return err
	}
	return c.api.SetDeviceList(ctx, c.prof.Username, c.id, raw)
}
