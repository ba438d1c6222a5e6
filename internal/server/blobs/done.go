package blobs

import (
	"sync"
	"time"
)

// deviceKey names one authenticated device.
type deviceKey struct {
	username string
	deviceID uint32
}

// doneSet remembers which devices reported done for which blob, so that a
// device that retries (or repeats on purpose) is counted once. It lives in
// memory: the store only counts completions (see the package doc for what
// a restart costs). An entry leaves when its blob is deleted or expires, so
// the set never outgrows the blobs that exist.
type doneSet struct {
	mu    sync.Mutex
	blobs map[string]*doneEntry
}

type doneEntry struct {
	expires time.Time
	devices map[deviceKey]struct{}
}

func newDoneSet() *doneSet { return &doneSet{blobs: make(map[string]*doneEntry)} }

// add records that device k is done with blob id and reports whether that
// is new. expires is the blob's expiry, used to drop the entry later.
func (d *doneSet) add(id string, k deviceKey, expires time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.blobs[id]
	if e == nil {
		e = &doneEntry{expires: expires, devices: make(map[deviceKey]struct{})}
		d.blobs[id] = e
	}
	if _, seen := e.devices[k]; seen {
		return false
	}
	e.devices[k] = struct{}{}
	return true
}

// remove undoes add, when the completion could not be stored.
func (d *doneSet) remove(id string, k deviceKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.blobs[id]; e != nil {
		delete(e.devices, k)
		if len(e.devices) == 0 {
			delete(d.blobs, id)
		}
	}
}

// forget drops a deleted blob.
func (d *doneSet) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.blobs, id)
}

// expire drops the blobs that expired before now, as the store does.
func (d *doneSet) expire(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, e := range d.blobs {
		if e.expires.Before(now) {
			delete(d.blobs, id)
		}
	}
}

// len is the number of blobs tracked (for tests).
func (d *doneSet) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.blobs)
}
