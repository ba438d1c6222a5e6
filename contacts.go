package hush

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/proto"
)

// lookup asks the directory for user and returns its verified entry.
func (c *Client) lookup(ctx context.Context, user string) (*proto.User, error) {
	if !proto.ValidUsername(user) {
		return nil, fmt.Errorf("%w: %q is not a valid username", ErrUnknownUser, user)
	}
	ans, err := c.api.Lookup(ctx, user)
	if err != nil {
		return nil, serverErr(err)
	}
	u, err := ans.User(user)
	if errors.Is(err, proto.ErrNoSuchUser) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownUser, user)
	}
	if err != nil {
		return nil, err
	}
	if u.State != proto.StateActive {
		return nil, fmt.Errorf("%w: %s (account %s)", ErrUnknownUser, user, u.State)
	}
	return u, nil
}

// refreshContact looks user up and merges the answer into the stored
// contact: the first key seen is pinned; a different key later is flagged
// as a change and not adopted. The flag stays until the user decides
// (AcceptIdentity, RejectIdentity), whatever the directory serves next.
// Only devices whose certificates carry the pinned key, with the mailbox
// derived from it, are kept.
func (c *Client) refreshContact(ctx context.Context, user string) (*contactRecord, error) {
	u, err := c.lookup(ctx, user)
	if err != nil {
		return nil, err
	}
	return c.mergeContact(ctx, user, u)
}

// mergeContact merges the directory's verified entry u into user's stored
// contact, as refreshContact describes.
func (c *Client) mergeContact(ctx context.Context, user string, u *proto.User) (*contactRecord, error) {
	key := u.IdentityKey.Bytes()
	var rec contactRecord
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		old, err := getContact(tx, user)
		switch {
		case errors.Is(err, localstore.ErrNotFound):
			rec = contactRecord{Username: user, IdentityKey: key}
		case err != nil:
			return err
		default:
			rec = *old
		}
		switch {
		case old != nil && !rec.Changed && rotatedTo(rec.IdentityKey, u):
			// The pinned key signed over to the served one (§3.7): no
			// warning; verification carries over; sessions start anew.
			for _, d := range rec.Devices {
				if err := dropSession(tx, c, user, d.ID); err != nil {
					return err
				}
			}
			rec.IdentityKey, rec.Devices, rec.DeviceList, rec.ListNote = key, nil, nil, ""
			if err := c.takeDevices(tx, &rec, u, false); err != nil {
				return err
			}
			if user != c.prof.Username {
				if err := noteDevices(tx, DeviceChange{User: user, Rotated: true,
					Note: "rotated their identity key; the old key signed the new one (the safety number changed)"}); err != nil {
					return err
				}
			}
		case !bytes.Equal(rec.IdentityKey, key):
			if !bytes.Equal(rec.NewIdentityKey, key) {
				rec.KeptPinned = false // a key the user has not decided on
			}
			rec.Changed, rec.NewIdentityKey = true, key
		case rec.Changed && rec.KeptPinned:
			// The user kept the pinned key and the directory serves it
			// again: the change is over.
			rec.Changed, rec.NewIdentityKey, rec.ServedPinnedAgain, rec.KeptPinned = false, nil, false, false
			if err := c.takeDevices(tx, &rec, u, old != nil); err != nil {
				return err
			}
		case rec.Changed:
			// The pinned key is back, but only the user ends a change: a
			// directory that swapped the key once and swaps it back must
			// not erase the warning.
			rec.ServedPinnedAgain = true
		default:
			if err := c.takeDevices(tx, &rec, u, old != nil); err != nil {
				return err
			}
		}
		rec.UpdatedAt = c.now().Unix()
		c.contactsGen.Add(1)
		return tx.PutContact(user, encodeJSON(rec))
	})
	return &rec, err
}

// takeDevices sets rec's devices and device list from u (listedDevices)
// and, for a contact already known (known), queues a DeviceChange when the
// set changed or the directory served something not taken.
func (c *Client) takeDevices(tx *localstore.Tx, rec *contactRecord, u *proto.User, known bool) error {
	devs, list, note := listedDevices(rec, u)
	added, removed := deviceDiff(rec.Devices, devs)
	newNote := note != "" && note != rec.ListNote
	rec.Devices, rec.DeviceList, rec.ListNote = devs, list, note
	if !newNote {
		note = ""
	}
	if !known || rec.Username == c.prof.Username || (len(added) == 0 && len(removed) == 0 && note == "") {
		return nil
	}
	if note != "" {
		c.log.Warn("device list", "user", rec.Username, "note", note)
	}
	return noteDevices(tx, DeviceChange{User: rec.Username, Added: added, Removed: removed, Note: note})
}

// contactForSend is the contact to encrypt to: refreshed from the
// directory, or, when the server cannot be reached, the stored record as
// long as every device of it already has a session (nothing needs a
// prekey bundle), so a message written offline is queued, not lost.
func (c *Client) contactForSend(ctx context.Context, user string) (*contactRecord, error) {
	rec, err := c.refreshContact(ctx, user)
	if !errors.Is(err, ErrServerUnreachable) {
		return rec, err
	}
	var stored *contactRecord
	verr := c.st.View(ctx, func(tx *localstore.Tx) error {
		r, err := getContact(tx, user)
		if err != nil {
			return err
		}
		for _, d := range r.Devices {
			if has, err := hasSession(tx, user, d.ID); err != nil || !has {
				return cmp.Or(err, localstore.ErrNotFound)
			}
		}
		stored = r
		return nil
	})
	if verr != nil || len(stored.Devices) == 0 {
		return nil, err
	}
	return stored, nil
}

// verifiedDevices keeps the devices whose certificates verify, carry key
// and live at the mailbox derived from it: a directory cannot slip in a
// device of another identity or redirect a device's mail.
func verifiedDevices(key []byte, devs []proto.Device) []contactDevice {
	var out []contactDevice
	for _, d := range devs {
		cert := d.Cert // verified by proto.VerifyAnswer
		if !bytes.Equal(cert.Identity.Bytes(), key) || cert.Device != d.ID ||
			identity.MailboxID(cert.Identity, cert.Device) != d.Mailbox {
			continue
		}
		cd := contactDevice{ID: d.ID, Cert: cert.Marshal(), Mailbox: d.Mailbox}
		cd.Delivery, cd.Broker = deliveryOf(d)
		out = append(out, cd)
	}
	return out
}

func getContact(tx *localstore.Tx, user string) (*contactRecord, error) {
	b, err := tx.GetContact(user)
	if err != nil {
		return nil, err
	}
	var r contactRecord
	if err := decodeJSON(b, &r, "contact"); err != nil {
		return nil, err
	}
	return &r, nil
}

// Contact looks user up in the directory, pins its identity key on first
// contact or flags a change, and returns the stored contact.
func (c *Client) Contact(ctx context.Context, user string) (*Contact, error) {
	rec, err := c.refreshContact(ctx, user)
	if err != nil {
		return nil, err
	}
	pc := rec.public()
	err = c.st.View(ctx, func(tx *localstore.Tx) error {
		pc.Held, err = heldCount(tx, user)
		return err
	})
	return &pc, err
}

// Contacts returns every stored contact, without asking the directory.
func (c *Client) Contacts(ctx context.Context) ([]Contact, error) {
	var out []Contact
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := tx.ListContacts()
		if err != nil {
			return err
		}
		for _, b := range recs {
			var r contactRecord
			if err := decodeJSON(b, &r, "contact"); err != nil {
				return err
			}
			if r.Username == c.prof.Username {
				continue // this account's own devices, kept as a contact for their sessions (transcript.go)
			}
			pc := r.public()
			if pc.Held, err = heldCount(tx, r.Username); err != nil {
				return err
			}
			out = append(out, pc)
		}
		return nil
	})
	return out, err
}

// SafetyNumber returns the safety number of the own identity and user's
// pinned one (looking the user up first if it is not a contact yet).
func (c *Client) SafetyNumber(ctx context.Context, user string) (*SafetyNumber, error) {
	rec, err := c.storedOrFetched(ctx, user)
	if err != nil {
		return nil, err
	}
	k, err := identity.NewIdentityKey(rec.IdentityKey)
	if err != nil {
		return nil, err
	}
	return newSafetyNumber(c.prof.Username, c.id.Public(), user, k)
}

// PendingSafetyNumber returns, after user's identity key changed, the
// safety number of the own identity and user's NEW key: the number to
// compare with user before accepting the key. SafetyNumber still returns
// the one of the pinned key.
func (c *Client) PendingSafetyNumber(ctx context.Context, user string) (*SafetyNumber, error) {
	rec, err := c.storedOrFetched(ctx, user)
	if err != nil {
		return nil, err
	}
	if !rec.Changed {
		return nil, fmt.Errorf("%s's identity key has not changed", user)
	}
	k, err := identity.NewIdentityKey(rec.NewIdentityKey)
	if err != nil {
		return nil, err
	}
	return newSafetyNumber(c.prof.Username, c.id.Public(), user, k)
}

func (c *Client) storedOrFetched(ctx context.Context, user string) (*contactRecord, error) {
	var rec *contactRecord
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		var err error
		rec, err = getContact(tx, user)
		return err
	})
	if errors.Is(err, localstore.ErrNotFound) {
		return c.refreshContact(ctx, user)
	}
	return rec, err
}

// MarkVerified records that the user compared safety numbers with user.
func (c *Client) MarkVerified(ctx context.Context, user string) error {
	return c.editContact(ctx, user, func(r *contactRecord) error {
		if r.Changed {
			return fmt.Errorf("%w: accept or refuse %s's new key first", ErrIdentityChanged, user)
		}
		r.Verified = true
		return nil
	})
}

// AcceptIdentity adopts user's new identity key after a change: the old
// sessions are dropped, the contact is no longer verified, and messages
// are encrypted to the new key from now on. The messages held while the
// change was undecided are then received, oldest first: fn (if not nil)
// gets each as an Event, as Listen would.
func (c *Client) AcceptIdentity(ctx context.Context, user string, fn func(Event)) error {
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		r, err := storedContact(tx, user)
		if err != nil {
			return err
		}
		if !r.Changed {
			return fmt.Errorf("%s's identity key has not changed", user)
		}
		for _, d := range r.Devices {
			// The tagged envelope state goes with the session: the new
			// identity's devices know none of its batches.
			if err := dropSession(tx, c, user, d.ID); err != nil {
				return err
			}
		}
		r.IdentityKey, r.NewIdentityKey, r.Changed, r.Verified, r.Devices = r.NewIdentityKey, nil, false, false, nil
		r.ServedPinnedAgain, r.KeptPinned = false, false
		c.contactsGen.Add(1)
		return tx.PutContact(user, encodeJSON(r))
	})
	if err != nil {
		return err
	}
	if _, err = c.refreshContact(ctx, user); err != nil {
		return err
	}
	return c.deliverHeld(ctx, user, typed(fn))
}

// RejectIdentity refuses user's new identity key and keeps the pinned
// one. Nothing is sent to user while the directory serves another key; the
// change clears (cleared) once it serves the pinned key again, now or at
// a later lookup.
func (c *Client) RejectIdentity(ctx context.Context, user string) (cleared bool, err error) {
	err = c.editContact(ctx, user, func(r *contactRecord) error {
		if !r.Changed {
			return fmt.Errorf("%s's identity key has not changed", user)
		}
		r.KeptPinned = true
		return nil
	})
	if err != nil {
		return false, err
	}
	rec, err := c.refreshContact(ctx, user)
	if err != nil {
		return false, err
	}
	return !rec.Changed, nil
}

func (c *Client) editContact(ctx context.Context, user string, fn func(*contactRecord) error) error {
	return c.st.Update(ctx, func(tx *localstore.Tx) error {
		r, err := storedContact(tx, user)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		c.contactsGen.Add(1)
		return tx.PutContact(user, encodeJSON(r))
	})
}

func storedContact(tx *localstore.Tx, user string) (*contactRecord, error) {
	r, err := getContact(tx, user)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, fmt.Errorf("%s is not a contact yet", user)
	}
	return r, err
}
