package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/hush-chat/hush/internal/server/httpapi"
	"github.com/hush-chat/hush/internal/server/store"
)

// Answer payload types: the "type" field keeps a signed answer of one kind
// from being accepted as another.
const (
	answerUsers  = "users"
	answerBundle = "bundle"
)

// Account states as they appear in answers.
const (
	StatePending = "pending"
	StateActive  = "active"
	StateDeleted = "deleted"
)

// signedAnswer is the body of every signed answer.
type signedAnswer struct {
	Payload   []byte `json:"payload"`
	Signature []byte `json:"signature"`
}

type usersPayload struct {
	Type         string     `json:"type"`
	ServerTime   int64      `json:"server_time"`
	Query        []string   `json:"query"`
	Users        []userJSON `json:"users"`
	Missing      []string   `json:"missing"`
	EmailIgnored bool       `json:"email_ignored,omitempty"`
	Notice       string     `json:"notice,omitempty"`
}

type userJSON struct {
	Username    string        `json:"username"`
	State       string        `json:"state"`
	IdentityKey []byte        `json:"identity_key"`
	KeyVersion  int           `json:"key_version"`
	Devices     []deviceJSON  `json:"devices"`
	KeyHistory  []historyJSON `json:"key_history"`
}

type deviceJSON struct {
	DeviceID uint32 `json:"device_id"`
	Cert     []byte `json:"cert"`
	Mailbox  string `json:"mailbox"`
	// Omitted for a relay device: such an answer reads as before
	// delivery modes existed.
	Delivery string `json:"delivery,omitempty"`
	Broker   string `json:"broker,omitempty"`
}

type historyJSON struct {
	Version     int    `json:"version"`
	IdentityKey []byte `json:"identity_key"`
	ValidFrom   int64  `json:"valid_from"`
	ValidUntil  int64  `json:"valid_until"` // 0 for the current key
}

type bundlePayload struct {
	Type                string `json:"type"`
	ServerTime          int64  `json:"server_time"`
	Username            string `json:"username"`
	DeviceID            uint32 `json:"device_id"`
	Bundle              []byte `json:"bundle"`
	OneTimeRemaining    int    `json:"one_time_remaining"`
	KEMOneTimeRemaining int    `json:"kem_one_time_remaining"`
}

type serverKeyJSON struct {
	Key         []byte `json:"server_key"`
	Fingerprint string `json:"fingerprint"`
}

func stateName(s store.AccountState) string {
	switch s {
	case store.StatePending:
		return StatePending
	case store.StateActive:
		return StateActive
	case store.StateDeleted:
		return StateDeleted
	}
	return fmt.Sprintf("unknown(%d)", int(s))
}

// writeSigned signs payload with the server key and writes it.
func (d *Directory) writeSigned(w http.ResponseWriter, status int, payload any) error {
	p, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encoding answer: %w", err)
	}
	httpapi.WriteJSON(w, status, signedAnswer{Payload: p, Signature: d.key.Sign(LabelAnswer, p)})
	return nil
}

// usersAnswer builds the answer for query (valid, distinct usernames), in
// query order.
func (d *Directory) usersAnswer(ctx context.Context, query []string) (*usersPayload, error) {
	accts, err := d.st.GetAccounts(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("getting accounts: %w", err)
	}
	byName := make(map[string]*store.Account, len(accts))
	for i := range accts {
		byName[accts[i].Username] = &accts[i]
	}
	ans := &usersPayload{Type: answerUsers, ServerTime: d.now().Unix(), Query: query,
		Users: []userJSON{}, Missing: []string{}}
	for _, name := range query {
		a, ok := byName[name]
		if !ok {
			ans.Missing = append(ans.Missing, name)
			continue
		}
		u, err := d.userRecord(ctx, a)
		if err != nil {
			return nil, err
		}
		ans.Users = append(ans.Users, *u)
	}
	return ans, nil
}

// userRecord describes one account; only an active one lists devices.
func (d *Directory) userRecord(ctx context.Context, a *store.Account) (*userJSON, error) {
	u := &userJSON{Username: a.Username, State: stateName(a.State), IdentityKey: a.IdentityKey,
		KeyVersion: a.KeyVersion, Devices: []deviceJSON{}, KeyHistory: []historyJSON{}}
	if a.State == store.StateActive {
		devs, err := d.st.ListDevices(ctx, a.Username)
		if err != nil {
			return nil, fmt.Errorf("listing devices: %w", err)
		}
		for _, dv := range devs {
			dj := deviceJSON{DeviceID: dv.DeviceID, Cert: dv.Cert, Mailbox: dv.Mailbox}
			dj.Delivery, dj.Broker = deliveryFields(dv.Broker)
			u.Devices = append(u.Devices, dj)
		}
	}
	hist, err := d.st.KeyHistory(ctx, a.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("reading key history: %w", err)
	}
	for _, h := range hist {
		e := historyJSON{Version: h.Version, IdentityKey: h.IdentityKey, ValidFrom: h.ValidFrom.Unix()}
		if !h.ValidUntil.IsZero() {
			e.ValidUntil = h.ValidUntil.Unix()
		}
		u.KeyHistory = append(u.KeyHistory, e)
	}
	return u, nil
}

// writeAccount answers a mutation with the signed record of username.
func (d *Directory) writeAccount(ctx context.Context, w http.ResponseWriter, status int, username string,
	decorate func(*usersPayload)) error {
	ans, err := d.usersAnswer(ctx, []string{username})
	if err != nil {
		return err
	}
	if decorate != nil {
		decorate(ans)
	}
	return d.writeSigned(w, status, ans)
}
