package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

func stateName(s store.AccountState) string {
	switch s {
	case store.StatePending:
		return proto.StatePending
	case store.StateActive:
		return proto.StateActive
	case store.StateDeleted:
		return proto.StateDeleted
	}
	return fmt.Sprintf("unknown(%d)", int(s))
}

// writeSigned signs payload with the server key and writes it.
func (d *Directory) writeSigned(w http.ResponseWriter, status int, payload any) error {
	p, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encoding answer: %w", err)
	}
	httpapi.WriteJSON(w, status, proto.SignedAnswer{Payload: p, Signature: d.key.Sign(proto.LabelAnswer, p)})
	return nil
}

// wantLists reports whether the request asks for device lists
// (?device_lists=1). Answers carry them only then: a client of a release
// before device lists decodes answers strictly and would refuse the field.
func wantLists(r *http.Request) bool { return r.URL.Query().Get("device_lists") == "1" }

// usersAnswer builds the answer for query (valid, distinct usernames), in
// query order, with each account's device list if lists is set.
func (d *Directory) usersAnswer(ctx context.Context, query []string, lists bool) (*proto.UsersPayload, error) {
	accts, err := d.st.GetAccounts(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("getting accounts: %w", err)
	}
	byName := make(map[string]*store.Account, len(accts))
	for i := range accts {
		byName[accts[i].Username] = &accts[i]
	}
	ans := &proto.UsersPayload{Type: proto.AnswerTypeUsers, ServerTime: d.now().Unix(), Query: query,
		Users: []proto.UserRecord{}, Missing: []string{}}
	for _, name := range query {
		a, ok := byName[name]
		if !ok {
			ans.Missing = append(ans.Missing, name)
			continue
		}
		u, err := d.userRecord(ctx, a, lists)
		if err != nil {
			return nil, err
		}
		ans.Users = append(ans.Users, *u)
	}
	return ans, nil
}

// userRecord describes one account; only an active one lists devices.
func (d *Directory) userRecord(ctx context.Context, a *store.Account, lists bool) (*proto.UserRecord, error) {
	u := &proto.UserRecord{Username: a.Username, State: stateName(a.State), IdentityKey: a.IdentityKey,
		KeyVersion: a.KeyVersion, Devices: []proto.DeviceRecord{}, KeyHistory: []proto.KeyHistoryRecord{}}
	if a.State == store.StateActive {
		devs, err := d.st.ListDevices(ctx, a.Username)
		if err != nil {
			return nil, fmt.Errorf("listing devices: %w", err)
		}
		for _, dv := range devs {
			dj := proto.DeviceRecord{DeviceID: dv.DeviceID, Cert: dv.Cert, Mailbox: dv.Mailbox}
			dj.Delivery, dj.Broker = deliveryFields(dv.Broker)
			u.Devices = append(u.Devices, dj)
		}
		if lists {
			l, err := d.st.GetDeviceList(ctx, a.Username)
			switch {
			case err == nil:
				u.DeviceList = l.Raw
			case !errors.Is(err, store.ErrNotFound):
				return nil, fmt.Errorf("reading device list: %w", err)
			}
		}
	}
	hist, err := d.st.KeyHistory(ctx, a.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("reading key history: %w", err)
	}
	for _, h := range hist {
		e := proto.KeyHistoryRecord{Version: h.Version, IdentityKey: h.IdentityKey, ValidFrom: h.ValidFrom.Unix()}
		if !h.ValidUntil.IsZero() {
			e.ValidUntil = h.ValidUntil.Unix()
		}
		if lists {
			e.Rotation = h.Rotation
		}
		u.KeyHistory = append(u.KeyHistory, e)
	}
	return u, nil
}

// writeAccount answers a mutation with the signed record of username.
func (d *Directory) writeAccount(r *http.Request, w http.ResponseWriter, status int, username string,
	decorate func(*proto.UsersPayload)) error {
	ans, err := d.usersAnswer(r.Context(), []string{username}, wantLists(r))
	if err != nil {
		return err
	}
	if decorate != nil {
		decorate(ans)
	}
	return d.writeSigned(w, status, ans)
}
