package apiclient

import (
	"context"
	"errors"
	"net/http"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
)

// SetDeviceList publishes the account's signed device list (doc/API.md
// §2.16a). ErrNoDeviceLists when the server predates device lists.
func (c *Client) SetDeviceList(ctx context.Context, username string, id *identity.IdentityPrivateKey, list []byte) error {
	req := proto.SetDeviceListRequest{
		RequestHeader: proto.RequestHeader{Op: proto.OpSetDeviceList, Username: username, Timestamp: c.now().Unix()},
		DeviceList:    list,
	}
	body, err := proto.SignRequest(id, req)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "POST", "/v1/devices/list", "", body, "application/json", nil)
	var e *Error
	if errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed) && e.Code != "unknown_user" {
		return ErrNoDeviceLists
	}
	return err
}

// ErrNoDeviceLists: the server does not know device lists (a release
// before them).
var ErrNoDeviceLists = errors.New("the server does not support device lists")

// NewDevice is a device to add to an account: its certificate and keyring
// (the signed and last-resort prekeys go up with it), and how it receives.
type NewDevice struct {
	Cert    *identity.DeviceCert
	Keyring *pqxdh.Keyring
	Broker  string
}

// AddDevice adds a device to the account, with the signed device list
// that names it (nil only for an account that publishes no list).
func (c *Client) AddDevice(ctx context.Context, username string, id *identity.IdentityPrivateKey, d NewDevice, list []byte) error {
	spk, lr := d.Keyring.SignedPreKey(), d.Keyring.LastResort()
	req := proto.AddDeviceRequest{
		RequestHeader: proto.RequestHeader{Op: proto.OpAddDevice, Username: username, Timestamp: c.now().Unix()},
		DeviceUpload:  proto.DeviceUpload{DeviceCert: d.Cert.Marshal(), SignedPreKey: spk.Marshal(), LastResortKEMPreKey: lr.Marshal()},
		DeviceList:    list,
	}
	if d.Broker != "" {
		req.Delivery, req.Broker = proto.DeliveryDirect, d.Broker
	}
	body, err := proto.SignRequest(id, req)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "POST", "/v1/devices", "", body, "application/json", nil)
	return err
}

// DeleteDevice removes a device of the account, with the signed device
// list without it (nil only for an account that publishes no list).
func (c *Client) DeleteDevice(ctx context.Context, username string, id *identity.IdentityPrivateKey, device uint32, list []byte) error {
	req := proto.DeleteDeviceRequest{
		RequestHeader: proto.RequestHeader{Op: proto.OpDeleteDevice, Username: username, Timestamp: c.now().Unix()},
		DeviceID:      device, DeviceList: list,
	}
	body, err := proto.SignRequest(id, req)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "POST", "/v1/devices/delete", "", body, "application/json", nil)
	return err
}

// Rotate replaces the account's identity key (doc/API.md §2.14): signed by
// the current key and the next one, with the devices of the new key, the
// rotation statement and the new key's first device list.
func (c *Client) Rotate(ctx context.Context, username string, current, next *identity.IdentityPrivateKey, devs []NewDevice, rotation, list []byte) error {
	req := &proto.RotateRequest{
		RequestHeader:  proto.RequestHeader{Op: proto.OpRotateIdentity, Username: username, Timestamp: c.now().Unix()},
		NewIdentityKey: next.Public().Bytes(), Rotation: rotation, DeviceList: list,
	}
	for _, d := range devs {
		spk, lr := d.Keyring.SignedPreKey(), d.Keyring.LastResort()
		up := proto.DeviceUpload{DeviceCert: d.Cert.Marshal(), SignedPreKey: spk.Marshal(), LastResortKEMPreKey: lr.Marshal()}
		if d.Broker != "" {
			up.Delivery, up.Broker = proto.DeliveryDirect, d.Broker
		}
		req.Devices = append(req.Devices, up)
	}
	body, err := proto.SignRotation(current, next, req)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "POST", "/v1/users/rotate", "", body, "application/json", nil)
	return err
}
