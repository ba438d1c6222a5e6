package directory

import (
	"net/http"
	"testing"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
)

func signList(t *testing.T, id *identity.IdentityPrivateKey, user string, version uint64, certs ...*identity.DeviceCert) []byte {
	t.Helper()
	l, err := identity.NewDeviceList(user, version, 1, certs...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Sign(id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lookupLists fetches GET /v1/users/{name}?device_lists=1.
func (e *env) lookupLists(name string) *proto.User {
	e.t.Helper()
	status, body := e.do("GET", "/v1/users/"+name+"?device_lists=1", nil)
	if status != http.StatusOK {
		e.t.Fatalf("GET user %s: %d %s", name, status, body)
	}
	u, err := e.verify(body).User(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// An account that published a device list changes its devices only with
// a newer list naming exactly the devices it will have: the directory can
// be asked to hold no device the owner did not sign for, and never goes
// back to an older list.
func TestDeviceListLifecycle(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 1)
	if u := e.lookupLists("alice"); u.DeviceList != nil {
		t.Fatal("a list before any was published")
	}
	setList := func(raw []byte) (int, []byte) {
		return e.signed("/v1/devices/list", alice.id, &proto.SetDeviceListRequest{RequestHeader: e.header(proto.OpSetDeviceList, "alice"), DeviceList: raw})
	}
	// A list that does not match the devices is refused.
	laptop := newUserWithKey(t, "alice", alice.id, 2)
	status, body := setList(signList(t, alice.id, "alice", 1, alice.cert, laptop.cert))
	wantError(t, status, body, http.StatusConflict, "device_list_mismatch")
	// A list signed by another key is refused.
	mallory := newUser(t, "mallory")
	status, body = setList(signList(t, mallory.id, "alice", 1, mallory.cert))
	wantError(t, status, body, http.StatusBadRequest, "bad_device_list")

	if status, body = setList(signList(t, alice.id, "alice", 1, alice.cert)); status != http.StatusOK {
		t.Fatalf("publish: %d %s", status, body)
	}
	if u := e.lookupLists("alice"); u.DeviceList == nil || u.DeviceList.Version != 1 || !u.DeviceList.Lists(alice.cert) {
		t.Fatalf("served list %+v", u.DeviceList)
	}
	// Without ?device_lists=1 the answer reads as before lists existed.
	if u := mustUser(t, e.lookupOne("alice"), "alice"); u.DeviceList != nil {
		t.Fatal("list served to a client that did not ask")
	}

	add := func(list []byte) (int, []byte) {
		return e.signed("/v1/devices", alice.id, &proto.AddDeviceRequest{RequestHeader: e.header(proto.OpAddDevice, "alice"),
			DeviceUpload: laptop.upload(t, 0), DeviceList: list})
	}
	status, body = add(nil)
	wantError(t, status, body, http.StatusConflict, "device_list_required")
	status, body = add(signList(t, alice.id, "alice", 1, alice.cert, laptop.cert))
	wantError(t, status, body, http.StatusConflict, "stale_device_list")
	status, body = add(signList(t, alice.id, "alice", 2, alice.cert)) // leaves the new device out
	wantError(t, status, body, http.StatusConflict, "device_list_mismatch")
	if u := e.lookupLists("alice"); len(u.Devices) != 1 {
		t.Fatalf("a refused add left %d devices", len(u.Devices))
	}
	if status, body = add(signList(t, alice.id, "alice", 2, alice.cert, laptop.cert)); status != http.StatusCreated {
		t.Fatalf("add: %d %s", status, body)
	}
	u := e.lookupLists("alice")
	if len(u.Devices) != 2 || u.DeviceList.Version != 2 || !u.DeviceList.Lists(laptop.cert) {
		t.Fatalf("after add: %d devices, list %+v", len(u.Devices), u.DeviceList)
	}

	del := func(list []byte) (int, []byte) {
		return e.signed("/v1/devices/delete", alice.id, &proto.DeleteDeviceRequest{RequestHeader: e.header(proto.OpDeleteDevice, "alice"),
			DeviceID: 2, DeviceList: list})
	}
	status, body = del(nil)
	wantError(t, status, body, http.StatusConflict, "device_list_required")
	status, body = del(signList(t, alice.id, "alice", 3, alice.cert, laptop.cert)) // still names it
	wantError(t, status, body, http.StatusConflict, "device_list_mismatch")
	if status, body = del(signList(t, alice.id, "alice", 3, alice.cert)); status != http.StatusOK {
		t.Fatalf("delete: %d %s", status, body)
	}
	// Publishing the old list again (the device back) is refused.
	status, body = setList(signList(t, alice.id, "alice", 2, alice.cert, laptop.cert))
	wantError(t, status, body, http.StatusConflict, "stale_device_list")
	u = e.lookupLists("alice")
	if len(u.Devices) != 1 || u.DeviceList.Version != 3 || u.DeviceList.Has(2) {
		t.Fatalf("after delete: %d devices, list %+v", len(u.Devices), u.DeviceList)
	}
}

// Accounts that never published a list change devices as before.
func TestDevicesWithoutListAsBefore(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 1)
	laptop := newUserWithKey(t, "alice", alice.id, 2)
	status, body := e.signed("/v1/devices", alice.id, &proto.AddDeviceRequest{RequestHeader: e.header(proto.OpAddDevice, "alice"), DeviceUpload: laptop.upload(t, 0)})
	if status != http.StatusCreated {
		t.Fatalf("add without a list: %d %s", status, body)
	}
	status, body = e.signed("/v1/devices/delete", alice.id, &proto.DeleteDeviceRequest{RequestHeader: e.header(proto.OpDeleteDevice, "alice"), DeviceID: 2})
	if status != http.StatusOK {
		t.Fatalf("delete without a list: %d %s", status, body)
	}
}
