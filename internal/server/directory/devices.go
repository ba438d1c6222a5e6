package directory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// handlePreKeys serves POST /v1/prekeys (op "prekeys").
func (d *Directory) handlePreKeys(w http.ResponseWriter, r *http.Request) error {
	req, env, acct, idk, err := activeMutation[proto.PreKeysRequest](d, r, MaxLargeBody, proto.OpPreKeys)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := d.requireDevice(ctx, acct.Username, req.DeviceID); err != nil {
		return err
	}
	k, err := parsePreKeyUpload(idk, req)
	if err != nil {
		return err
	}
	counts, err := d.counts(ctx, acct.Username, k.device)
	if err != nil {
		return err
	}
	if counts.OneTimeRemaining+len(k.oneTime) > MaxStoredPreKeys ||
		counts.KEMOneTimeRemaining+len(k.kemOneTime) > MaxStoredPreKeys {
		return httpapi.Errorf(http.StatusConflict, "too_many_prekeys",
			"a device stores at most %d one-time prekeys of each kind", MaxStoredPreKeys)
	}
	if err := d.claimRequest(ctx, env, &req.RequestHeader); err != nil {
		return err
	}
	// One-time keys first: if an id is already stored nothing at all changes.
	if err := d.addOneTimes(ctx, acct.Username, k); err != nil {
		return err
	}
	if err := d.setPreKeys(ctx, acct.Username, k); err != nil {
		return err
	}
	if counts, err = d.counts(ctx, acct.Username, k.device); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, counts)
	return nil
}

// parsePreKeyUpload checks the keys of a prekeys request for its device.
func parsePreKeyUpload(idk *identity.IdentityKey, req *proto.PreKeysRequest) (*deviceKeys, error) {
	dev := req.DeviceID
	k := &deviceKeys{device: dev}
	var err error
	if len(req.SignedPreKey) > 0 {
		if k.signed, err = parseSigned(idk, dev, req.SignedPreKey); err != nil {
			return nil, err
		}
	}
	if len(req.LastResortKEMPreKey) > 0 {
		if k.lastResort, err = parseLastResort(idk, dev, req.LastResortKEMPreKey); err != nil {
			return nil, err
		}
	}
	if k.oneTime, err = parseOneTimes(req.OneTimePreKeys); err != nil {
		return nil, err
	}
	if k.kemOneTime, err = parseKEMOneTimes(idk, dev, req.KEMOneTimePreKeys); err != nil {
		return nil, err
	}
	return k, nil
}

func (d *Directory) requireDevice(ctx context.Context, username string, id uint32) error {
	if id == 0 {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "device_id 0 is reserved")
	}
	_, err := d.st.GetDevice(ctx, username, id)
	if errors.Is(err, store.ErrNotFound) {
		return errUnknownDevice()
	}
	if err != nil {
		return fmt.Errorf("getting device: %w", err)
	}
	return nil
}

func errUnknownDevice() error {
	return httpapi.Errorf(http.StatusNotFound, "unknown_device", "no such device")
}

func (d *Directory) counts(ctx context.Context, username string, id uint32) (*proto.PreKeyCounts, error) {
	n, err := d.st.CountOneTimePreKeys(ctx, username, id, store.KindOneTime)
	if err != nil {
		return nil, fmt.Errorf("counting prekeys: %w", err)
	}
	m, err := d.st.CountOneTimePreKeys(ctx, username, id, store.KindKEMOneTime)
	if err != nil {
		return nil, fmt.Errorf("counting prekeys: %w", err)
	}
	return &proto.PreKeyCounts{DeviceID: id, OneTimeRemaining: n, KEMOneTimeRemaining: m}, nil
}

// pathDevice reads {name} and {id} from the path.
func pathDevice(r *http.Request) (string, uint32, error) {
	name := r.PathValue("name")
	if !proto.ValidUsername(name) {
		return "", 0, errInvalidUsername()
	}
	raw := r.PathValue("id")
	id, err := strconv.ParseUint(raw, 10, 32)
	// Only the canonical form: one device has one URL.
	if err != nil || id == 0 || strconv.FormatUint(id, 10) != raw {
		return "", 0, httpapi.Errorf(http.StatusBadRequest, "bad_request", "device id must be a canonical decimal number from 1 to 4294967295")
	}
	return name, uint32(id), nil
}

// activeDevice checks that username is an active account with device id.
func (d *Directory) activeDevice(ctx context.Context, username string, id uint32) (*store.Device, error) {
	acct, err := d.st.GetAccount(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnknownUser()
	}
	if err != nil {
		return nil, fmt.Errorf("getting account: %w", err)
	}
	if err := requireActive(acct); err != nil {
		return nil, err
	}
	dev, err := d.st.GetDevice(ctx, username, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnknownDevice()
	}
	if err != nil {
		return nil, fmt.Errorf("getting device: %w", err)
	}
	return dev, nil
}

// handlePreKeyCount serves GET /v1/users/{name}/devices/{id}/prekeys/count.
// The counts are public: anyone learns them from bundle answers anyway.
func (d *Directory) handlePreKeyCount(w http.ResponseWriter, r *http.Request) error {
	name, id, err := pathDevice(r)
	if err != nil {
		return err
	}
	if _, err := d.activeDevice(r.Context(), name, id); err != nil {
		return err
	}
	counts, err := d.counts(r.Context(), name, id)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, counts)
	return nil
}

// handleAddDevice serves POST /v1/devices (op "add_device").
func (d *Directory) handleAddDevice(w http.ResponseWriter, r *http.Request) error {
	req, env, acct, idk, err := activeMutation[proto.AddDeviceRequest](d, r, MaxLargeBody, proto.OpAddDevice)
	if err != nil {
		return err
	}
	ctx := r.Context()
	k, err := parseUpload(idk, &req.DeviceUpload)
	if err != nil {
		return err
	}
	devs, err := d.st.ListDevices(ctx, acct.Username)
	if err != nil {
		return fmt.Errorf("listing devices: %w", err)
	}
	if len(devs) >= MaxDevices {
		return httpapi.Errorf(http.StatusConflict, "too_many_devices", "an account has at most %d devices", MaxDevices)
	}
	var list *identity.DeviceList
	if len(req.DeviceList) > 0 {
		if list, err = parseList(req.DeviceList, idk, acct.Username); err != nil {
			return err
		}
	}
	if err := d.claimRequest(ctx, env, &req.RequestHeader); err != nil {
		return err
	}
	if list != nil {
		err = d.st.AddListedDevice(ctx, k.storeDevice(acct.Username), *k.signed, *k.lastResort, storeList(list))
	} else {
		err = d.st.AddDevice(ctx, k.storeDevice(acct.Username), *k.signed, *k.lastResort)
	}
	if errors.Is(err, store.ErrExists) {
		return httpapi.Errorf(http.StatusConflict, "device_exists", "device %d already exists", k.device)
	}
	if err != nil {
		return listErr(fmt.Errorf("adding device: %w", err))
	}
	if err := d.addOneTimes(ctx, acct.Username, k); err != nil {
		return err
	}
	return d.writeAccount(r, w, http.StatusCreated, acct.Username, nil)
}

// handleDeleteDevice serves POST /v1/devices/delete (op "delete_device").
func (d *Directory) handleDeleteDevice(w http.ResponseWriter, r *http.Request) error {
	req, env, acct, idk, err := activeMutation[proto.DeleteDeviceRequest](d, r, MaxSmallBody, proto.OpDeleteDevice)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := d.requireDevice(ctx, acct.Username, req.DeviceID); err != nil {
		return err
	}
	var list *identity.DeviceList
	if len(req.DeviceList) > 0 {
		if list, err = parseList(req.DeviceList, idk, acct.Username); err != nil {
			return err
		}
	}
	if err := d.claimRequest(ctx, env, &req.RequestHeader); err != nil {
		return err
	}
	if list != nil {
		err = d.st.DeleteListedDevice(ctx, acct.Username, req.DeviceID, storeList(list))
	} else {
		err = d.st.DeleteDevice(ctx, acct.Username, req.DeviceID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return errUnknownDevice()
	}
	if err != nil {
		return listErr(fmt.Errorf("deleting device: %w", err))
	}
	return d.writeAccount(r, w, http.StatusOK, acct.Username, nil)
}

// activeMutation reads a signed request of type T for op, verifies it with
// the account's current identity key, and requires the account to be
// active: the common start of every device and prekey mutation. The
// caller checks the rest, then claims env (claimRequest) before changing
// anything.
func activeMutation[T any, P payload[T]](d *Directory, r *http.Request, max int64, op string) (P, *proto.SignedRequest, *store.Account, *identity.IdentityKey, error) {
	env, err := readSigned(r, max, false)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	req, err := decodePayload[T, P](env.Payload, op)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	acct, idk, err := d.authorize(r.Context(), env, req.Head())
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := requireActive(acct); err != nil {
		return nil, nil, nil, nil, err
	}
	return req, env, acct, idk, nil
}
