package hush

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
)

// addDeviceFor adds device id to c's account through the directory, with
// a device list naming c's device and the new one at version.
func addDeviceFor(t *testing.T, c *Client, id uint32, version uint64) *identity.DeviceCert {
	t.Helper()
	dev, err := identity.GenerateDevice(id)
	if err != nil {
		t.Fatal(err)
	}
	cert := identity.Certify(c.id, dev, c.now().Unix())
	ring, err := pqxdh.NewKeyring(c.id, id, c.now().Unix())
	if err != nil {
		t.Fatal(err)
	}
	l, err := identity.NewDeviceList(c.prof.Username, version, c.now().Unix(), c.cert, cert)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := l.Sign(c.id)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.api.AddDevice(context.Background(), c.prof.Username, c.id, apiclient.NewDevice{Cert: cert, Keyring: ring}, raw); err != nil {
		t.Fatal(err)
	}
	return cert
}

// A new profile publishes its device list; a contact keeps it, and is told
// when the contact adds or removes a device.
func TestDeviceListPublishedAndFollowed(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")

	u, err := bob.lookup(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.DeviceList == nil || u.DeviceList.Version != 1 || !u.DeviceList.Lists(alice.cert) || len(u.DeviceList.Devices) != 1 {
		t.Fatalf("alice's published list: %+v", u.DeviceList)
	}
	if _, err := bob.Send(ctx, "alice", "hi"); err != nil {
		t.Fatal(err)
	}

	cert2 := addDeviceFor(t, alice, 2, 2)
	if _, err := bob.Send(ctx, "alice", "to both devices"); err != nil {
		t.Fatal(err)
	}
	rec, err := bob.storedOrFetched(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Devices) != 2 || rec.Devices[1].ID != 2 {
		t.Fatalf("bob uses alice's devices %+v", rec.Devices)
	}
	var changes []DeviceChange
	if _, err := bob.SyncEvents(ctx, func(e Event) {
		if e.Kind == EventDevicesChanged {
			changes = append(changes, *e.Devices)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].User != "alice" || !slices.Equal(changes[0].Added, []uint32{2}) || len(changes[0].Removed) != 0 {
		t.Fatalf("device changes reported: %+v", changes)
	}
	// Reported once.
	changes = nil
	if _, err := bob.SyncEvents(ctx, func(e Event) {
		if e.Kind == EventDevicesChanged {
			changes = append(changes, *e.Devices)
		}
	}); err != nil || len(changes) != 0 {
		t.Fatalf("reported again: %+v, %v", changes, err)
	}

	// Removing device 2 with list version 3.
	l, _ := identity.NewDeviceList("alice", 3, alice.now().Unix(), alice.cert)
	raw, _ := l.Sign(alice.id)
	if err := alice.api.DeleteDevice(ctx, "alice", alice.id, 2, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Contact(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SyncEvents(ctx, func(e Event) {
		if e.Kind == EventDevicesChanged {
			changes = append(changes, *e.Devices)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || !slices.Equal(changes[0].Removed, []uint32{2}) || len(changes[0].Added) != 0 {
		t.Fatalf("removal reported as %+v", changes)
	}
	_ = cert2
}

// What a hostile directory might serve for a contact that publishes
// device lists, and what the client makes of it.
func TestListedDevicesRefusesDirectoryChoices(t *testing.T) {
	id, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	certOf := func(n uint32) *identity.DeviceCert {
		d, err := identity.GenerateDevice(n)
		if err != nil {
			t.Fatal(err)
		}
		return identity.Certify(id, d, 1)
	}
	list := func(v uint64, certs ...*identity.DeviceCert) *identity.DeviceList {
		l, _ := identity.NewDeviceList("alice", v, 1, certs...)
		raw, _ := l.Sign(id)
		p, err := identity.ParseDeviceList(raw, id.Public())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	served := func(certs ...*identity.DeviceCert) []proto.Device {
		var out []proto.Device
		for _, c := range certs {
			out = append(out, proto.Device{ID: c.Device, Cert: c, Mailbox: identity.MailboxID(id.Public(), c.Device)})
		}
		return out
	}
	c1, c2, c3 := certOf(1), certOf(2), certOf(3)
	rec := &contactRecord{Username: "alice", IdentityKey: id.Public().Bytes()}
	ids := func(ds []contactDevice) []uint32 {
		var out []uint32
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}

	// No list ever: devices as served.
	devs, raw, note := listedDevices(rec, &proto.User{Devices: served(c1, c2)})
	if !slices.Equal(ids(devs), []uint32{1, 2}) || raw != nil || note != "" {
		t.Fatalf("no list: %v %v %q", ids(devs), raw, note)
	}
	// A list: only what it names, with exactly those certificates.
	v2 := list(2, c1, c2)
	devs, raw, note = listedDevices(rec, &proto.User{Devices: served(c1, c2, c3), DeviceList: v2})
	if !slices.Equal(ids(devs), []uint32{1, 2}) || !strings.Contains(note, "[3]") {
		t.Fatalf("unlisted device 3: %v %q", ids(devs), note)
	}
	rec.DeviceList = raw
	// Another certificate under a listed id: not used.
	devs, _, note = listedDevices(rec, &proto.User{Devices: served(c1, certOf(2)), DeviceList: v2})
	if !slices.Equal(ids(devs), []uint32{1}) || note == "" {
		t.Fatalf("swapped certificate: %v %q", ids(devs), note)
	}
	// Device 2 removed at version 3, then the directory serves version 2
	// again with device 2: the held version 3 stands.
	devs, raw, _ = listedDevices(rec, &proto.User{Devices: served(c1), DeviceList: list(3, c1)})
	if !slices.Equal(ids(devs), []uint32{1}) {
		t.Fatalf("after removal: %v", ids(devs))
	}
	rec.DeviceList = raw
	devs, raw, note = listedDevices(rec, &proto.User{Devices: served(c1, c2), DeviceList: v2})
	if !slices.Equal(ids(devs), []uint32{1}) || !strings.Contains(note, "older device list") {
		t.Fatalf("rollback: %v %q", ids(devs), note)
	}
	if held, _ := identity.ParseDeviceList(raw, id.Public()); held.Version != 3 {
		t.Fatalf("kept list version %d", held.Version)
	}
	// The directory drops the list and serves device 2 again: the held list
	// still filters.
	devs, _, note = listedDevices(rec, &proto.User{Devices: served(c1, c2)})
	if !slices.Equal(ids(devs), []uint32{1}) || !strings.Contains(note, "no device list") {
		t.Fatalf("withheld list: %v %q", ids(devs), note)
	}
}
