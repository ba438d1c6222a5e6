package apiclient

import (
	"context"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
)

// SetDelivery tells the directory how a device receives: broker is the
// MQTT broker URL of direct mode, or "" for the relay. The request is
// signed by the identity key (doc/API.md §2.16).
func (c *Client) SetDelivery(ctx context.Context, username string, id *identity.IdentityPrivateKey, device uint32, broker string) error {
	req := proto.SetDeliveryRequest{
		RequestHeader: proto.RequestHeader{Op: proto.OpSetDelivery, Username: username, Timestamp: c.now().Unix()},
		DeviceID:      device, Delivery: proto.DeliveryRelay,
	}
	if broker != "" {
		req.Delivery, req.Broker = proto.DeliveryDirect, broker
	}
	body, err := proto.SignRequest(id, req)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "POST", "/v1/devices/delivery", "", body, "application/json", nil)
	return err
}
