package directory

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// requestDelivery is checkDelivery with the error as 400 bad_request.
func requestDelivery(delivery, broker string) (string, error) {
	b, err := proto.CheckDelivery(delivery, broker)
	if err != nil {
		return "", httpapi.Errorf(http.StatusBadRequest, "bad_request", "%s", err.Error())
	}
	return b, nil
}

// deliveryFields is how a stored broker appears in a device of an answer:
// nothing for the relay (an answer about relay devices reads as before
// delivery modes existed), delivery "direct" and the broker otherwise.
func deliveryFields(broker string) (delivery, b string) {
	if broker == "" {
		return "", ""
	}
	return proto.DeliveryDirect, broker
}

// handleSetDelivery serves POST /v1/devices/delivery (op "set_delivery").
func (d *Directory) handleSetDelivery(w http.ResponseWriter, r *http.Request) error {
	req, env, acct, _, err := activeMutation[proto.SetDeliveryRequest](d, r, MaxSmallBody, proto.OpSetDelivery)
	if err != nil {
		return err
	}
	if req.Delivery == "" {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "delivery is missing")
	}
	broker, err := requestDelivery(req.Delivery, req.Broker)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := d.requireDevice(ctx, acct.Username, req.DeviceID); err != nil {
		return err
	}
	if err := d.claimRequest(ctx, env, &req.RequestHeader); err != nil {
		return err
	}
	err = d.st.SetDeviceBroker(ctx, acct.Username, req.DeviceID, broker)
	if errors.Is(err, store.ErrNotFound) {
		return errUnknownDevice()
	}
	if err != nil {
		return fmt.Errorf("setting delivery: %w", err)
	}
	return d.writeAccount(r, w, http.StatusOK, acct.Username, nil)
}
