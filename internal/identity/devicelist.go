package identity

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/wire"
)

// Labels of the statements an identity key signs about itself (doc/SPEC.md
// §3.6 and §3.7).
const (
	labelDeviceList = "hush/v2 device list"
	labelRotation   = "hush/v2 identity rotation"
)

const (
	// MaxListedDevices bounds the devices of one device list.
	MaxListedDevices = 100
	// CertHashSize is the size of a certificate's hash in a device list.
	CertHashSize      = sha256.Size
	deviceListVersion = 0x01
	rotationVersion   = 0x01
	maxUsername       = 255
)

// ErrListVersion is returned (wrapped) by CheckSuccessor when a device list
// does not come after the one held: an older or equal version with other
// contents, which is what a directory serving a stale list would show.
var ErrListVersion = errors.New("hush: device list is not newer than the one held")

// ListedDevice is one entry of a device list: the device id and the
// SHA-256 of the device's exact certificate.
type ListedDevice struct {
	ID       uint32
	CertHash [CertHashSize]byte
}

// DeviceList is a user's signed statement of which devices are theirs, at
// a version that only grows. A directory serves it with the devices'
// certificates; a client uses exactly the devices it names, so the
// directory can neither add a device nor bring back a removed one.
type DeviceList struct {
	Username string
	Identity *IdentityKey
	Version  uint64
	Created  int64 // Unix seconds
	Devices  []ListedDevice
	raw      []byte // signed encoding, set by Sign and ParseDeviceList
}

// CertHash is the hash of a certificate as a device list names it.
func CertHash(cert []byte) [CertHashSize]byte { return sha256.Sum256(cert) }

// NewDeviceList lists certs (any order) at version for username. The
// certificates must all carry id's public key and distinct device ids.
func NewDeviceList(username string, version uint64, created int64, certs ...*DeviceCert) (*DeviceList, error) {
	if len(certs) == 0 {
		return nil, errors.New("hush: a device list names at least one device")
	}
	l := &DeviceList{Username: username, Identity: certs[0].Identity, Version: version, Created: created}
	for _, c := range certs {
		if !c.Identity.Equal(l.Identity) {
			return nil, errors.New("hush: device list: certificates of different identities")
		}
		l.Devices = append(l.Devices, ListedDevice{ID: c.Device, CertHash: CertHash(c.raw)})
	}
	sortDevices(l.Devices)
	if err := l.check(); err != nil {
		return nil, err
	}
	return l, nil
}

func sortDevices(d []ListedDevice) {
	slices.SortFunc(d, func(a, b ListedDevice) int { return cmp.Compare(a.ID, b.ID) })
}

func (l *DeviceList) check() error {
	switch {
	case len(l.Username) == 0 || len(l.Username) > maxUsername:
		return fmt.Errorf("hush: device list: username of %d bytes", len(l.Username))
	case l.Version == 0:
		return errors.New("hush: device list: version 0 is reserved")
	case len(l.Devices) == 0 || len(l.Devices) > MaxListedDevices:
		return fmt.Errorf("hush: device list: %d devices, want 1 to %d", len(l.Devices), MaxListedDevices)
	}
	for i, d := range l.Devices {
		if d.ID == 0 {
			return errors.New("hush: device list: device id 0 is reserved")
		}
		if i > 0 && d.ID <= l.Devices[i-1].ID {
			return errors.New("hush: device list: device ids not strictly increasing")
		}
	}
	return nil
}

func (l *DeviceList) body() []byte {
	w := wire.NewWriter(make([]byte, 0, 1+1+len(l.Username)+32+8+8+1+len(l.Devices)*(4+CertHashSize)))
	w.U8(deviceListVersion)
	w.Bytes8([]byte(l.Username))
	w.Fixed(l.Identity.pub)
	w.U64(l.Version)
	w.U64(uint64(l.Created))
	w.U8(uint8(len(l.Devices)))
	for _, d := range l.Devices {
		w.U32(d.ID)
		w.Fixed(d.CertHash[:])
	}
	return w.Bytes()
}

// Sign signs the list with the identity key it names and returns the
// signed encoding (body || signature).
func (l *DeviceList) Sign(id *IdentityPrivateKey) ([]byte, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if !id.Public().Equal(l.Identity) {
		return nil, errors.New("hush: device list: signing key is not the listed identity")
	}
	body := l.body()
	l.raw = append(body, id.Sign(labelDeviceList, body)...)
	return append([]byte(nil), l.raw...), nil
}

// Marshal returns the signed encoding of a list made by Sign or
// ParseDeviceList (nil for an unsigned list).
func (l *DeviceList) Marshal() []byte { return append([]byte(nil), l.raw...) }

// ParseDeviceList decodes a signed device list, checks that it names key
// as its identity and that key signed it, and checks its form.
func ParseDeviceList(b []byte, key *IdentityKey) (*DeviceList, error) {
	const name = "device list"
	if len(b) < SignatureSize {
		return nil, wire.Errorf(name, "", wire.ErrTruncated, "%d bytes", len(b))
	}
	body, sig := b[:len(b)-SignatureSize], b[len(b)-SignatureSize:]
	r := wire.NewReader(name, body)
	r.Version(deviceListVersion)
	user := r.Bytes8("username", maxUsername)
	pub := r.Fixed("identity", IdentityKeySize)
	version := r.U64("version")
	created := r.U64("created")
	n := int(r.U8("count"))
	var devs []ListedDevice
	for range n {
		if r.Err() != nil {
			break
		}
		d := ListedDevice{ID: r.U32("device")}
		copy(d.CertHash[:], r.Fixed("cert hash", CertHashSize))
		devs = append(devs, d)
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	idk, err := NewIdentityKey(pub)
	if err != nil {
		return nil, err
	}
	if !idk.Equal(key) {
		return nil, wire.Errorf(name, "identity", wire.ErrMalformed, "names another identity key")
	}
	if err := key.Verify(labelDeviceList, body, sig); err != nil {
		return nil, err
	}
	l := &DeviceList{Username: string(user), Identity: idk, Version: version, Created: int64(created), Devices: devs,
		raw: append([]byte(nil), b...)}
	if err := l.check(); err != nil {
		return nil, wire.Errorf(name, "", wire.ErrMalformed, "%v", err)
	}
	return l, nil
}

// Lists reports whether the list names the device with exactly this
// certificate.
func (l *DeviceList) Lists(c *DeviceCert) bool {
	h := CertHash(c.raw)
	for _, d := range l.Devices {
		if d.ID == c.Device {
			return d.CertHash == h
		}
	}
	return false
}

// Has reports whether the list names device id (with any certificate).
func (l *DeviceList) Has(id uint32) bool {
	for _, d := range l.Devices {
		if d.ID == id {
			return true
		}
	}
	return false
}

// CheckSuccessor checks that next may replace l, a list already
// accepted for the same user: same username and identity, and a higher
// version, or the same version with the same signed bytes (a repeat).
func (l *DeviceList) CheckSuccessor(next *DeviceList) error {
	switch {
	case next.Username != l.Username || !next.Identity.Equal(l.Identity):
		return errors.New("hush: device list of another user or identity")
	case next.Version > l.Version:
		return nil
	case next.Version == l.Version && string(next.raw) == string(l.raw):
		return nil
	case next.Version == l.Version:
		return fmt.Errorf("%w: two different lists at version %d", ErrListVersion, l.Version)
	}
	return fmt.Errorf("%w: version %d after %d", ErrListVersion, next.Version, l.Version)
}

// Diff compares two lists: the device ids in next and not in
// l, and the other way round. A device whose certificate changed under
// the same id counts as removed and added.
func (l *DeviceList) Diff(next *DeviceList) (added, removed []uint32) {
	in := func(d ListedDevice, ds []ListedDevice) bool {
		for _, e := range ds {
			if e == d {
				return true
			}
		}
		return false
	}
	for _, d := range next.Devices {
		if !in(d, l.Devices) {
			added = append(added, d.ID)
		}
	}
	for _, d := range l.Devices {
		if !in(d, next.Devices) {
			removed = append(removed, d.ID)
		}
	}
	return added, removed
}

// Rotation is a user's statement, signed by their old identity key, that
// a new identity key replaces it. A contact that pinned Old moves to New
// on it without an identity-change warning.
type Rotation struct {
	Username string
	Old, New *IdentityKey
	Created  int64 // Unix seconds
	raw      []byte
}

func (r *Rotation) body() []byte {
	w := wire.NewWriter(nil)
	w.U8(rotationVersion)
	w.Bytes8([]byte(r.Username))
	w.Fixed(r.Old.pub)
	w.Fixed(r.New.pub)
	w.U64(uint64(r.Created))
	return w.Bytes()
}

// SignRotation makes the rotation statement from old to next, signed by
// old.
func SignRotation(username string, old *IdentityPrivateKey, next *IdentityKey, created int64) (*Rotation, error) {
	if len(username) == 0 || len(username) > maxUsername {
		return nil, fmt.Errorf("hush: rotation: username of %d bytes", len(username))
	}
	r := &Rotation{Username: username, Old: old.Public(), New: next, Created: created}
	if r.Old.Equal(next) {
		return nil, errors.New("hush: rotation to the same key")
	}
	body := r.body()
	r.raw = append(body, old.Sign(labelRotation, body)...)
	return r, nil
}

// Marshal returns the signed encoding.
func (r *Rotation) Marshal() []byte { return append([]byte(nil), r.raw...) }

// ParseRotation decodes a rotation statement and checks that the old key
// it names signed it. Whether that old key is the one a client pinned is
// the caller's check.
func ParseRotation(b []byte) (*Rotation, error) {
	const name = "identity rotation"
	if len(b) < SignatureSize {
		return nil, wire.Errorf(name, "", wire.ErrTruncated, "%d bytes", len(b))
	}
	body, sig := b[:len(b)-SignatureSize], b[len(b)-SignatureSize:]
	rd := wire.NewReader(name, body)
	rd.Version(rotationVersion)
	user := rd.Bytes8("username", maxUsername)
	oldb := rd.Fixed("old", IdentityKeySize)
	newb := rd.Fixed("new", IdentityKeySize)
	created := rd.U64("created")
	if err := rd.Done(); err != nil {
		return nil, err
	}
	old, err := NewIdentityKey(oldb)
	if err != nil {
		return nil, err
	}
	next, err := NewIdentityKey(newb)
	if err != nil {
		return nil, err
	}
	if len(user) == 0 {
		return nil, wire.Errorf(name, "username", wire.ErrMalformed, "empty")
	}
	if old.Equal(next) {
		return nil, wire.Errorf(name, "new", wire.ErrMalformed, "the same key as the old one")
	}
	if err := old.Verify(labelRotation, body, sig); err != nil {
		return nil, err
	}
	return &Rotation{Username: string(user), Old: old, New: next, Created: int64(created), raw: append([]byte(nil), b...)}, nil
}

// Successor returns the next version of l: the same devices, plus add
// (when not nil) and minus device remove (when not 0), dated created. It
// is unsigned: Sign it.
func (l *DeviceList) Successor(created int64, add *DeviceCert, remove uint32) (*DeviceList, error) {
	next := &DeviceList{Username: l.Username, Identity: l.Identity, Version: l.Version + 1, Created: created}
	for _, d := range l.Devices {
		if d.ID != remove && (add == nil || d.ID != add.Device) {
			next.Devices = append(next.Devices, d)
		}
	}
	if add != nil {
		if !add.Identity.Equal(l.Identity) {
			return nil, errors.New("hush: device list: certificate of another identity")
		}
		next.Devices = append(next.Devices, ListedDevice{ID: add.Device, CertHash: CertHash(add.raw)})
		sortDevices(next.Devices)
	}
	if remove != 0 && len(next.Devices) == len(l.Devices) {
		return nil, fmt.Errorf("hush: device list: device %d is not listed", remove)
	}
	if err := next.check(); err != nil {
		return nil, err
	}
	return next, nil
}

// NextID returns the lowest device id above every listed one.
func (l *DeviceList) NextID() uint32 {
	var top uint32
	for _, d := range l.Devices {
		top = max(top, d.ID)
	}
	return top + 1
}
