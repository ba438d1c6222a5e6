package hush

import (
	"bytes"
	"context"
	"crypto/hpke"
	"crypto/rand"
	"fmt"
	"io"
	"slices"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/sealed"
)

// Sealed data (doc/SPEC.md §13): data encrypted once for every current
// device of some users and of the sender, signed by the sender's identity
// key, to be stored anywhere and opened later by any of those devices.
var (
	// ErrNotRecipient: this device cannot open the sealed data: neither
	// it nor its user was among the recipients (or the envelope part is
	// damaged, which no device can tell from not being a recipient).
	ErrNotRecipient = sealed.ErrNotRecipient
	// ErrSealTampered: the sealed data was altered, cut or extended, or
	// is not what its claimed sender sealed (the signature does not
	// verify under the sender's identity key).
	ErrSealTampered = sealed.ErrTampered
)

// Seal encrypts plaintext for every current device of each of users and of
// this user (so any of the own devices can open it too), signed by the own
// identity key. The result can be stored anywhere; Unseal opens it. Users
// are looked up in one directory request: keys are pinned on first
// contact, an unknown user fails with an *UnknownUsersError, and a contact
// whose identity key changed with ErrIdentityChanged until the change is
// decided. The blob reveals neither the recipients nor the sender, only
// the number of devices and the data's length.
func (c *Client) Seal(ctx context.Context, plaintext []byte, users ...string) ([]byte, error) {
	var buf bytes.Buffer
	w, err := c.SealStream(ctx, &buf, users...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// SealStream is Seal for data of any size: it writes the blob to w as the
// data is written to the returned WriteCloser, in chunks of 64 KiB, never
// holding it all. Close must be called: it writes the signature and the
// final chunk; the blob is complete only when Close returns nil. Close
// does not close w.
func (c *Client) SealStream(ctx context.Context, w io.Writer, users ...string) (io.WriteCloser, error) {
	names, devs, err := c.sealTargets(ctx, users)
	if err != nil {
		return nil, err
	}
	h := sealed.Header{
		Sender:    envelope.Address{User: c.prof.Username, Device: c.dev.ID()},
		Timestamp: c.now().UnixMilli(),
		Users:     names,
	}
	if _, err := rand.Read(h.MessageID[:]); err != nil {
		return nil, err
	}
	return sealed.NewWriter(w, c.id, h, devs)
}

// sealTargets returns the recipient users (the own included, sorted) and
// the envelope keys of all their devices, from one directory lookup.
func (c *Client) sealTargets(ctx context.Context, users []string) ([]string, []hpke.PublicKey, error) {
	self := c.prof.Username
	query := []string{self}
	for _, u := range users {
		if u != self && !slices.Contains(query, u) {
			query = append(query, u)
		}
	}
	if len(query) > sealed.MaxUsers {
		return nil, nil, fmt.Errorf("%w: %d users, at most %d per sealed blob", ErrTooLarge, len(query), sealed.MaxUsers)
	}
	found, missing, err := c.lookupMany(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	if len(missing) > 0 {
		return nil, nil, &UnknownUsersError{Users: missing}
	}
	var devs []hpke.PublicKey
	// The own devices: those the directory lists under the own key, and
	// always this one.
	me := found[self]
	if !me.IdentityKey.Equal(c.id.Public()) {
		return nil, nil, fmt.Errorf("the directory serves another identity key for your own account %s than this profile's: nothing is sealed (check the server)", self)
	}
	devs = append(devs, c.dev.EnvelopePublicKey())
	for _, d := range verifiedDevices(c.id.Public().Bytes(), me.Devices) {
		if d.ID != c.dev.ID() {
			cert, err := identity.ParseDeviceCert(d.Cert)
			if err != nil {
				return nil, nil, err
			}
			devs = append(devs, cert.Envelope)
		}
	}
	for _, name := range query[1:] {
		rec, err := c.mergeContact(ctx, name, found[name])
		if err != nil {
			return nil, nil, err
		}
		if rec.Changed {
			return nil, nil, fmt.Errorf("%w: %s's identity key changed; compare safety numbers and accept or refuse it before sealing data for %s", ErrIdentityChanged, name, name)
		}
		if len(rec.Devices) == 0 {
			return nil, nil, fmt.Errorf("%s has no device that can open sealed data", name)
		}
		for _, d := range rec.Devices {
			cert, err := identity.ParseDeviceCert(d.Cert)
			if err != nil {
				return nil, nil, err
			}
			devs = append(devs, cert.Envelope)
		}
	}
	if len(devs) > envelope.MaxSlots {
		return nil, nil, fmt.Errorf("%w: %d devices, at most %d per sealed blob", ErrTooLarge, len(devs), envelope.MaxSlots)
	}
	slices.Sort(query)
	return query, devs, nil
}

// Unseal opens data sealed by Seal for this user and returns it with the
// username of its sender, whose signature it checked under the key pinned
// for the sender (looked up and pinned if the sender is not a contact yet).
// It fails with ErrNotRecipient when the data was not sealed for this
// device, ErrSealTampered when it was altered or not signed by the
// sender's key, ErrIdentityChanged when it was signed by a new key of the
// sender not accepted yet, and ErrUnknownUser when the directory no longer
// knows the sender.
func (c *Client) Unseal(ctx context.Context, blob []byte) (plaintext []byte, from string, err error) {
	r, from, err := c.UnsealStream(ctx, bytes.NewReader(blob))
	if err != nil {
		return nil, "", err
	}
	pt, err := io.ReadAll(r)
	if err != nil {
		return nil, "", err
	}
	return pt, from, nil
}

// UnsealStream is Unseal for data of any size. It reads and opens the
// blob's envelope part from r, and returns a reader of the data and the
// username of the claimed sender. The sender is verified only at the end:
// the reader returns io.EOF only after every chunk authenticated and the
// sender's signature over the whole data verified; if it returns any
// other error, what it returned before must be discarded.
func (c *Client) UnsealStream(ctx context.Context, r io.Reader) (io.Reader, string, error) {
	o, err := sealed.Open(r, c.dev.EnvelopeKey())
	if err != nil {
		return nil, "", err
	}
	// A recipient who re-wrapped the data for this device cannot make
	// the sender's signature name this user.
	if !o.Names(c.prof.Username) {
		return nil, "", fmt.Errorf("%w (the sender did not seal it for %s)", ErrNotRecipient, c.prof.Username)
	}
	sender := o.Sender.User
	pinned, changed, err := c.senderKeys(ctx, sender)
	if err != nil {
		return nil, "", err
	}
	data, err := o.Data(func(signed, sig []byte) error {
		if pinned.Verify(sealed.SignLabel, signed, sig) == nil {
			return nil
		}
		if changed != nil && changed.Verify(sealed.SignLabel, signed, sig) == nil {
			return fmt.Errorf("%w: the data was sealed with %s's new identity key, which you have not accepted", ErrIdentityChanged, sender)
		}
		return fmt.Errorf("%w: it is not signed by %s's identity key", ErrSealTampered, sender)
	})
	if err != nil {
		return nil, "", err
	}
	return data, sender, nil
}

// senderKeys returns the identity key pinned for user and, while a change
// is undecided, the new one.
func (c *Client) senderKeys(ctx context.Context, user string) (pinned, changed *identity.IdentityKey, err error) {
	if user == c.prof.Username {
		return c.id.Public(), nil, nil
	}
	rec, err := c.storedOrFetched(ctx, user)
	if err != nil {
		return nil, nil, err
	}
	if pinned, err = identity.NewIdentityKey(rec.IdentityKey); err != nil {
		return nil, nil, err
	}
	if rec.Changed {
		if changed, err = identity.NewIdentityKey(rec.NewIdentityKey); err != nil {
			return nil, nil, err
		}
	}
	return pinned, changed, nil
}
