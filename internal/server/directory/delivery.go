package directory

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// How a device receives its envelopes (doc/API.md §2.2, §2.16). A sender
// delivers each device's envelope the way that device receives: a relay
// device's through the hush relay, a direct device's by publishing to the
// broker it named (doc/DIRECT.md).
const (
	DeliveryRelay  = "relay"
	DeliveryDirect = "direct"
)

// OpSetDelivery is the op of POST /v1/devices/delivery.
const OpSetDelivery = "set_delivery"

// MaxBrokerURL bounds a published broker URL.
const MaxBrokerURL = 512

// SetDeliveryRequest changes how a device receives (op "set_delivery"):
// Delivery "relay" (Broker empty) or "direct" with the broker URL.
type SetDeliveryRequest struct {
	RequestHeader
	DeviceID uint32 `json:"device_id"`
	Delivery string `json:"delivery"`
	Broker   string `json:"broker,omitempty"`
}

// ErrBadDelivery is a delivery mode or broker URL the directory refuses.
var ErrBadDelivery = errors.New("directory: bad delivery")

// CheckBroker reports whether raw may be published as a direct-mode broker:
// mqtt:// or mqtts:// with a host and nothing else. Credentials are
// refused: everything published is public, and a sender could not use
// them anyway (it publishes anonymously). A path, query or fragment has
// no meaning for MQTT and would only carry data past the check.
func CheckBroker(raw string) error {
	if raw == "" || len(raw) > MaxBrokerURL {
		return fmt.Errorf("%w: a broker URL has 1 to %d bytes", ErrBadDelivery, MaxBrokerURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "mqtt" && u.Scheme != "mqtts") || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: the broker must be mqtt://host:port or mqtts://host:port", ErrBadDelivery)
	}
	if u.User != nil {
		return fmt.Errorf("%w: a published broker URL carries no user name or password", ErrBadDelivery)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("%w: the broker URL must be only mqtt(s)://host:port", ErrBadDelivery)
	}
	return nil
}

// checkDelivery turns a (delivery, broker) pair of a request or an answer
// into the stored form: "" for the relay, else the broker URL. An empty
// delivery is the relay, as for every record from before delivery modes.
func checkDelivery(delivery, broker string) (string, error) {
	switch delivery {
	case "", DeliveryRelay:
		if broker != "" {
			return "", fmt.Errorf("%w: a broker belongs to delivery %q only", ErrBadDelivery, DeliveryDirect)
		}
		return "", nil
	case DeliveryDirect:
		if err := CheckBroker(broker); err != nil {
			return "", err
		}
		return broker, nil
	}
	return "", fmt.Errorf("%w: delivery must be %q or %q", ErrBadDelivery, DeliveryRelay, DeliveryDirect)
}

// requestDelivery is checkDelivery with the error as 400 bad_request.
func requestDelivery(delivery, broker string) (string, error) {
	b, err := checkDelivery(delivery, broker)
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
	return DeliveryDirect, broker
}

// handleSetDelivery serves POST /v1/devices/delivery (op "set_delivery").
func (d *Directory) handleSetDelivery(w http.ResponseWriter, r *http.Request) error {
	req, env, acct, _, err := activeMutation[SetDeliveryRequest](d, r, MaxSmallBody, OpSetDelivery)
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
	return d.writeAccount(ctx, w, http.StatusOK, acct.Username, nil)
}
