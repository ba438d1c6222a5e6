package directory

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// parseList checks a device list sent with a mutation: signed by the
// account's current identity key, for this account.
func parseList(raw []byte, idk *identity.IdentityKey, username string) (*identity.DeviceList, error) {
	l, err := identity.ParseDeviceList(raw, idk)
	if err != nil {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_device_list", "device list: %v", err)
	}
	if l.Username != username {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_device_list", "the device list names another user")
	}
	return l, nil
}

// storeList is l as the store keeps it, checked inside the store's
// transaction against the account's devices as they are after the change:
// the list must name exactly those devices with exactly their
// certificates.
func storeList(l *identity.DeviceList) store.DeviceList {
	return store.DeviceList{Version: l.Version, Raw: l.Marshal(), Match: func(devs []store.Device) error {
		if len(devs) != len(l.Devices) {
			return errListMismatch(fmt.Sprintf("it names %d devices, the account has %d", len(l.Devices), len(devs)))
		}
		for i, d := range devs { // both by id
			want := l.Devices[i]
			h := identity.CertHash(d.Cert)
			if d.DeviceID != want.ID || !bytes.Equal(h[:], want.CertHash[:]) {
				return errListMismatch(fmt.Sprintf("device %d differs", d.DeviceID))
			}
		}
		return nil
	}}
}

func errListMismatch(why string) error {
	return httpapi.Errorf(http.StatusConflict, "device_list_mismatch",
		"the device list does not match the account's devices: %s", why)
}

// listErr turns the store's device-list refusals into answers.
func listErr(err error) error {
	var he *httpapi.Error
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, store.ErrStale):
		return httpapi.Errorf(http.StatusConflict, "stale_device_list",
			"the device list is not newer than the published one: fetch it and sign the next version")
	case errors.Is(err, store.ErrListRequired):
		return httpapi.Errorf(http.StatusConflict, "device_list_required",
			"this account publishes device lists: send the signed list with the change")
	}
	return err
}

// handleSetDeviceList serves POST /v1/devices/list (op "set_device_list").
func (d *Directory) handleSetDeviceList(w http.ResponseWriter, r *http.Request) error {
	req, env, acct, idk, err := activeMutation[proto.SetDeviceListRequest](d, r, MaxSmallBody, proto.OpSetDeviceList)
	if err != nil {
		return err
	}
	l, err := parseList(req.DeviceList, idk, acct.Username)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := d.claimRequest(ctx, env, &req.RequestHeader); err != nil {
		return err
	}
	err = d.st.SetDeviceList(ctx, acct.Username, storeList(l))
	if errors.Is(err, store.ErrNotFound) {
		return errUnknownUser()
	}
	if err != nil {
		return listErr(fmt.Errorf("setting device list: %w", err))
	}
	return d.writeAccount(r, w, http.StatusOK, acct.Username, nil)
}
