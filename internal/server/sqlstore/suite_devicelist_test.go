package sqlstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/server/store"
)

func testDeviceLists(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	a, _ := f.register("alice")
	_, err := f.db.GetDeviceList(f.ctx, "alice")
	wantErr(t, "GetDeviceList before any", err, store.ErrNotFound)

	// Match sees the devices as they are after the change, inside the
	// transaction; its error aborts the change.
	var seen []uint32
	refuse := errors.New("refused by match")
	list := func(v uint64, ok bool) store.DeviceList {
		return store.DeviceList{Version: v, Raw: []byte{byte(v)}, Match: func(ds []store.Device) error {
			seen = seen[:0]
			for _, d := range ds {
				seen = append(seen, d.DeviceID)
			}
			if !ok {
				return refuse
			}
			return nil
		}}
	}
	f.must(f.db.SetDeviceList(f.ctx, "alice", list(1, true)))
	wantErr(t, "SetDeviceList at the same version", f.db.SetDeviceList(f.ctx, "alice", list(1, true)), store.ErrStale)
	wantErr(t, "SetDeviceList of a missing account", f.db.SetDeviceList(f.ctx, "nobody", list(1, true)), store.ErrNotFound)

	// Once a list is published, changes need one.
	wantErr(t, "AddDevice without a list", f.db.AddDevice(f.ctx, device("alice", 2), preKey(1), preKey(2)), store.ErrListRequired)
	wantErr(t, "DeleteDevice without a list", f.db.DeleteDevice(f.ctx, "alice", 1), store.ErrListRequired)

	d2 := device("alice", 2)
	wantErr(t, "AddListedDevice refused by match", f.db.AddListedDevice(f.ctx, d2, preKey(1), preKey(2), list(2, false)), refuse)
	if len(seen) != 2 || seen[1] != 2 {
		t.Fatalf("match saw devices %v, want [1 2]", seen)
	}
	if _, err := f.db.GetDevice(f.ctx, "alice", 2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused add left the device: %v", err)
	}
	wantErr(t, "AddListedDevice at a stale version", f.db.AddListedDevice(f.ctx, d2, preKey(1), preKey(2), list(1, true)), store.ErrStale)
	f.must(f.db.AddListedDevice(f.ctx, d2, preKey(1), preKey(2), list(2, true)))
	if l, err := f.db.GetDeviceList(f.ctx, "alice"); err != nil || l.Version != 2 || !bytes.Equal(l.Raw, []byte{2}) {
		t.Fatalf("GetDeviceList = %+v, %v", l, err)
	}

	wantErr(t, "DeleteListedDevice refused by match", f.db.DeleteListedDevice(f.ctx, "alice", 2, list(3, false)), refuse)
	if len(seen) != 1 || seen[0] != 1 {
		t.Fatalf("match saw devices %v, want [1]", seen)
	}
	if _, err := f.db.GetDevice(f.ctx, "alice", 2); err != nil {
		t.Fatalf("a refused delete removed the device: %v", err)
	}
	f.must(f.db.DeleteListedDevice(f.ctx, "alice", 2, list(3, true)))
	wantErr(t, "DeleteListedDevice of a gone device", f.db.DeleteListedDevice(f.ctx, "alice", 2, list(4, true)), store.ErrNotFound)

	// A rotation drops the list (the new key publishes its own); so does
	// deleting the account.
	f.must(f.db.RotateIdentity(f.ctx, "alice", randBytes(32), []store.Device{device("alice", 1)}, f.now.Now()))
	_, err = f.db.GetDeviceList(f.ctx, "alice")
	wantErr(t, "GetDeviceList after rotation", err, store.ErrNotFound)
	f.must(f.db.SetDeviceList(f.ctx, "alice", list(1, true)))
	f.must(f.db.DeleteAccount(f.ctx, "alice"))
	_, err = f.db.GetDeviceList(f.ctx, "alice")
	wantErr(t, "GetDeviceList after account deletion", err, store.ErrNotFound)
	_ = a
}
