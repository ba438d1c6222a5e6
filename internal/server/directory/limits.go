package directory

import (
	"errors"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// Default limits (doc/API.md §2.1). They are set well above what a client
// does: a client creating a group of 100 members fetches a few hundred
// bundles at once; a device that starts a few dozen new conversations an
// hour is busy.
const (
	// DefaultBundleRate and DefaultBundleBurst bound the bundle fetches
	// of one requesting account (a token bucket).
	DefaultBundleRate  = 10.0
	DefaultBundleBurst = 1000
	// DefaultRequesterPeriod: a requesting account receives one-time
	// prekeys of one device at most once a day; a second session with the
	// same device that day uses the signed and last-resort prekeys.
	DefaultRequesterPeriod = 24 * time.Hour
	// DefaultDeviceMax and DefaultDeviceWindow: a device's bundles carry
	// one-time prekeys at most 20 times an hour, all requesters together,
	// so a pool of 100 lasts at least five hours against any number of
	// accounts, while its owner's client refills it whenever it syncs.
	DefaultDeviceMax    = 20
	DefaultDeviceWindow = time.Hour
	// DefaultRequestsPerAccount bounds the signed requests remembered
	// for one account: those whose timestamps are still fresh, that is
	// of the last 10 minutes at most.
	DefaultRequestsPerAccount = 1000
)

// Limits bounds what one account can make the directory do. Zero fields
// take the defaults above.
type Limits struct {
	BundleRate  float64 // bundle fetches per second of one requesting account
	BundleBurst int     // and the burst above it
	// RequesterPeriod, DeviceMax and DeviceWindow bound the bundles that
	// carry one-time prekeys; beyond them a bundle is still served, with
	// the signed and last-resort prekeys only (store.HandOutLimits).
	RequesterPeriod time.Duration
	DeviceMax       int
	DeviceWindow    time.Duration
	// RequestsPerAccount bounds the signed requests remembered for one
	// account at a time; beyond it a new one is refused (429
	// too_many_requests), never an old one forgotten.
	RequestsPerAccount int
}

// withDefaults returns l with zero fields set to the defaults, or an
// error for a negative one.
func (l Limits) withDefaults() (Limits, error) {
	if l.BundleRate < 0 || l.BundleBurst < 0 || l.RequesterPeriod < 0 || l.DeviceMax < 0 || l.DeviceWindow < 0 ||
		l.RequestsPerAccount < 0 {
		return l, errors.New("directory: Config.Limits has a negative value")
	}
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if l.BundleRate == 0 {
		l.BundleRate = DefaultBundleRate
	}
	set(&l.BundleBurst, DefaultBundleBurst)
	setDur(&l.RequesterPeriod, DefaultRequesterPeriod)
	set(&l.DeviceMax, DefaultDeviceMax)
	setDur(&l.DeviceWindow, DefaultDeviceWindow)
	set(&l.RequestsPerAccount, DefaultRequestsPerAccount)
	return l, nil
}

func (l Limits) handOut() store.HandOutLimits {
	return store.HandOutLimits{RequesterPeriod: l.RequesterPeriod, DeviceMax: l.DeviceMax, DeviceWindow: l.DeviceWindow}
}

// handOutsKept is how long hand-outs must be kept for the limits to see
// them.
func (l Limits) handOutsKept() time.Duration { return max(l.RequesterPeriod, l.DeviceWindow) }
