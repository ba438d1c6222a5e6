package directory

import (
	"errors"
	"net/http"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// deviceKeys is a DeviceUpload whose encodings parsed and whose signatures
// verified against the account's identity key.
type deviceKeys struct {
	device     uint32
	cert       *identity.DeviceCert // nil for a prekeys upload
	mailbox    string
	signed     *store.PreKey
	lastResort *store.PreKey
	oneTime    []store.PreKey
	kemOneTime []store.PreKey
	broker     string // "" for the relay
}

// storeDevice is the device record for username.
func (k *deviceKeys) storeDevice(username string) store.Device {
	return store.Device{Username: username, DeviceID: k.cert.Device, Cert: k.cert.Marshal(), Mailbox: k.mailbox,
		Broker: k.broker}
}

// parseUpload checks a device certificate issued by idk and the device's
// prekeys, all signed by idk for that device.
func parseUpload(idk *identity.IdentityKey, u *proto.DeviceUpload) (*deviceKeys, error) {
	cert, err := identity.ParseDeviceCert(u.DeviceCert)
	if errors.Is(err, identity.ErrSignature) {
		return nil, errKeySignature("device_cert")
	}
	if err != nil {
		return nil, errBadKey("device_cert")
	}
	if !cert.Identity.Equal(idk) {
		// A certificate from another identity would let an account publish
		// a device it does not control.
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request",
			"device_cert is certified by another identity key")
	}
	dev := cert.Device
	k := &deviceKeys{device: dev, cert: cert, mailbox: identity.MailboxID(idk, dev)}
	if k.broker, err = requestDelivery(u.Delivery, u.Broker); err != nil {
		return nil, err
	}
	if k.signed, err = parseSigned(idk, dev, u.SignedPreKey); err != nil {
		return nil, err
	}
	if k.lastResort, err = parseLastResort(idk, dev, u.LastResortKEMPreKey); err != nil {
		return nil, err
	}
	if k.oneTime, err = parseOneTimes(u.OneTimePreKeys); err != nil {
		return nil, err
	}
	if k.kemOneTime, err = parseKEMOneTimes(idk, dev, u.KEMOneTimePreKeys); err != nil {
		return nil, err
	}
	return k, nil
}

// parseSigned parses and verifies a signed prekey of device.
func parseSigned(idk *identity.IdentityKey, device uint32, b []byte) (*store.PreKey, error) {
	if len(b) == 0 {
		return nil, errMissing("signed_prekey")
	}
	p, err := pqxdh.ParseSignedPreKey(b)
	if err != nil {
		return nil, errBadKey("signed_prekey")
	}
	if err := p.Verify(idk, device); err != nil {
		return nil, errKeySignature("signed_prekey")
	}
	return &store.PreKey{KeyID: p.ID, Data: p.Marshal()}, nil
}

// parseLastResort parses and verifies a last-resort KEM prekey of device.
func parseLastResort(idk *identity.IdentityKey, device uint32, b []byte) (*store.PreKey, error) {
	if len(b) == 0 {
		return nil, errMissing("last_resort_kem_prekey")
	}
	p, err := pqxdh.ParseKEMPreKey(b)
	if err != nil {
		return nil, errBadKey("last_resort_kem_prekey")
	}
	// The kind is covered by the signature; a one-time key stored as the
	// last-resort one would be served many times, which its owner's
	// keyring refuses after the first use.
	if p.Kind != pqxdh.KEMLastResort {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "last_resort_kem_prekey must be of kind last-resort")
	}
	if err := p.Verify(idk, device); err != nil {
		return nil, errKeySignature("last_resort_kem_prekey")
	}
	return &store.PreKey{KeyID: p.ID, Data: p.Marshal()}, nil
}

// parseOneTimes parses X25519 one-time prekeys (unsigned, doc/SPEC.md
// §4.1), refusing more than MaxPreKeysPerRequest and repeated ids.
func parseOneTimes(list [][]byte) ([]store.PreKey, error) {
	if len(list) > MaxPreKeysPerRequest {
		return nil, errTooMany("one_time_prekeys")
	}
	out := make([]store.PreKey, 0, len(list))
	for _, b := range list {
		p, err := pqxdh.ParseOneTimePreKey(b)
		if err != nil {
			return nil, errBadKey("one_time_prekeys")
		}
		out = append(out, store.PreKey{KeyID: p.ID, Data: p.Marshal()})
	}
	return out, checkUniqueIDs(out)
}

// parseKEMOneTimes parses and verifies one-time KEM prekeys of device.
func parseKEMOneTimes(idk *identity.IdentityKey, device uint32, list [][]byte) ([]store.PreKey, error) {
	if len(list) > MaxPreKeysPerRequest {
		return nil, errTooMany("kem_one_time_prekeys")
	}
	out := make([]store.PreKey, 0, len(list))
	for _, b := range list {
		p, err := pqxdh.ParseKEMPreKey(b)
		if err != nil {
			return nil, errBadKey("kem_one_time_prekeys")
		}
		if p.Kind != pqxdh.KEMOneTime {
			return nil, httpapi.Errorf(http.StatusBadRequest, "bad_request", "kem_one_time_prekeys must be of kind one-time")
		}
		if err := p.Verify(idk, device); err != nil {
			return nil, errKeySignature("kem_one_time_prekeys")
		}
		out = append(out, store.PreKey{KeyID: p.ID, Data: p.Marshal()})
	}
	return out, checkUniqueIDs(out)
}

func checkUniqueIDs(ks []store.PreKey) error {
	seen := make(map[uint32]bool, len(ks))
	for _, k := range ks {
		if seen[k.KeyID] {
			return errDuplicatePreKey()
		}
		seen[k.KeyID] = true
	}
	return nil
}

func errBadKey(field string) error {
	return httpapi.Errorf(http.StatusBadRequest, "bad_request", "%s is not a valid encoding", field)
}

func errMissing(field string) error {
	return httpapi.Errorf(http.StatusBadRequest, "bad_request", "%s is missing", field)
}

// errKeySignature is a key in the request whose own signature fails: the
// request is malformed, not unauthenticated, hence 400.
func errKeySignature(field string) error {
	return httpapi.Errorf(http.StatusBadRequest, "bad_signature", "%s signature does not verify with the identity key", field)
}

func errTooMany(field string) error {
	return httpapi.Errorf(http.StatusRequestEntityTooLarge, "too_large", "%s holds more than %d keys", field, MaxPreKeysPerRequest)
}

func errDuplicatePreKey() error {
	return httpapi.Errorf(http.StatusConflict, "duplicate_prekey", "a one-time prekey id is repeated or already stored")
}
