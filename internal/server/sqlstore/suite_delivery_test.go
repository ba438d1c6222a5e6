package sqlstore

import (
	"testing"

	"github.com/hush-chat/hush/internal/server/store"
)

// testDeviceBroker: a device records how it receives. One registered
// without a broker reads as a relay device (as every device stored before
// the column existed); the broker is set and cleared in place, and an
// unknown device is ErrNotFound.
func testDeviceBroker(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")
	if d, err := f.db.GetDevice(f.ctx, "alice", 1); err != nil || d.Broker != "" {
		t.Fatalf("new device = %+v, %v; want the relay (empty broker)", d, err)
	}
	d2 := device("alice", 2)
	d2.Broker = "mqtt://broker.example:1883"
	f.must(f.db.AddDevice(f.ctx, d2, preKey(5), preKey(6)))
	list, err := f.db.ListDevices(f.ctx, "alice")
	f.must(err)
	if len(list) != 2 || list[0].Broker != "" || list[1].Broker != d2.Broker {
		t.Fatalf("ListDevices = %+v", list)
	}
	f.must(f.db.SetDeviceBroker(f.ctx, "alice", 1, "mqtts://other.example:8883"))
	f.must(f.db.SetDeviceBroker(f.ctx, "alice", 2, ""))
	d, err := f.db.DeviceByMailbox(f.ctx, list[0].Mailbox)
	f.must(err)
	if d.Broker != "mqtts://other.example:8883" {
		t.Fatalf("device 1 broker %q", d.Broker)
	}
	if d, err := f.db.GetDevice(f.ctx, "alice", 2); err != nil || d.Broker != "" {
		t.Fatalf("device 2 = %+v, %v; want its broker cleared", d, err)
	}
	wantErr(t, "SetDeviceBroker of an unknown device", f.db.SetDeviceBroker(f.ctx, "alice", 9, ""), store.ErrNotFound)
}
