package hush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/hush-chat/hush/internal/localstore"
)

// backupPayloadVersion is the version of the payload encoding
// (doc/SPEC.md §16.8).
const backupPayloadVersion = 1

// backupPayload is what a backup holds, JSON inside the encrypted
// payload (doc/SPEC.md §16.8). Device keys, sessions, the keyring and the
// outbox are never in it: they belong to one device, and a restore makes
// a new one.
type backupPayload struct {
	Version      int    `json:"version"`
	Username     string `json:"username"`
	IdentitySeed []byte `json:"identity_seed"`
	ServerURL    string `json:"server_url"`
	ServerKey    []byte `json:"server_key"`
	BrokerURL    string `json:"broker_url,omitempty"`
	MQTTURL      string `json:"mqtt_url,omitempty"`
	Created      int64  `json:"created"` // Unix seconds
	// Contacts are the stored contact records: pinned key, verification,
	// devices and device list.
	Contacts []json.RawMessage `json:"contacts"`
	// Groups are the stored group records without this device's sending
	// chain and queued sends (see backupGroups).
	Groups []*groupRecord `json:"groups,omitempty"`
	// History is present with WithHistory.
	History []backupConversation `json:"history,omitempty"`
}

// backupConversation is the history of one conversation (a contact's
// username or "#" and a group's name), oldest first.
type backupConversation struct {
	Name     string            `json:"name"`
	Messages []json.RawMessage `json:"messages"`
}

// backupPayload collects the payload from the profile in one read.
func (c *Client) backupPayload(ctx context.Context, withHistory bool) (*backupPayload, *BackupInfo, error) {
	p := &backupPayload{Version: backupPayloadVersion, Username: c.prof.Username, IdentitySeed: c.id.Seed(),
		ServerURL: c.prof.ServerURL, ServerKey: c.prof.ServerKey, BrokerURL: c.prof.BrokerURL, MQTTURL: c.prof.MQTTURL,
		Created: c.now().Unix()}
	info := &BackupInfo{WithHistory: withHistory}
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := tx.ListContacts()
		if err != nil {
			return err
		}
		var names []string
		for _, r := range recs {
			var cr contactRecord
			if err := decodeJSON(r, &cr, "contact"); err != nil {
				return err
			}
			if cr.Username == c.prof.Username {
				continue // the own devices: a restore looks them up afresh
			}
			p.Contacts = append(p.Contacts, json.RawMessage(r))
			names = append(names, cr.Username)
		}
		groups, err := loadGroups(tx)
		if err != nil {
			return err
		}
		p.Groups = backupGroups(groups)
		for _, g := range groups {
			names = append(names, "#"+g.Name)
		}
		info.Contacts, info.Groups = len(p.Contacts), len(p.Groups)
		if !withHistory {
			return nil
		}
		sort.Strings(names)
		for _, name := range names {
			msgs, err := tx.History(name, 0)
			if err != nil && !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
			if len(msgs) == 0 {
				continue
			}
			conv := backupConversation{Name: name}
			for _, m := range msgs {
				conv.Messages = append(conv.Messages, json.RawMessage(m))
			}
			p.History = append(p.History, conv)
			info.Messages += len(msgs)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the profile for the backup: %w", err)
	}
	return p, info, nil
}

// backupGroups copies the group records without what belongs to this
// device alone: its sending chain (a restored device that reused it would
// encrypt under message keys already used) with the list of who got it,
// and control messages queued to be sent. The restored device starts a
// new sending chain with its first group message; the receiving keyring
// is kept, so it reads what members send on chains it already holds.
func backupGroups(recs []*groupRecord) []*groupRecord {
	var out []*groupRecord
	for _, r := range recs {
		g := *r
		g.Sender, g.Given, g.Send, g.Rebased = nil, nil, nil, nil
		out = append(out, &g)
	}
	return out
}

// decodeBackupPayload decodes and checks a payload for username.
func decodeBackupPayload(raw []byte, username string) (*backupPayload, error) {
	var p backupPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("%w: its contents do not decode", ErrBackupDamaged)
	}
	if p.Version != backupPayloadVersion {
		return nil, fmt.Errorf("this backup was made by a newer hush (payload version %d): update hush and try again", p.Version)
	}
	if p.Username != username || len(p.IdentitySeed) == 0 {
		return nil, fmt.Errorf("%w: it names another account", ErrBackupDamaged)
	}
	return &p, nil
}
