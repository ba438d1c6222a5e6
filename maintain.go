package hush

import (
	"context"
	"errors"
	"time"

	"github.com/hush-chat/hush/internal/apiclient"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/pqxdh"
)

// signedPreKeyLife is how long a signed prekey serves before rotation.
const signedPreKeyLife = 7 * 24 * time.Hour

// maintain keeps the directory's record of this device current: its
// prekeys, and how it receives (route.go). Warnings that stop nothing
// (ErrPreKeysDraining) go to report when it is not nil.
func (c *Client) maintain(ctx context.Context, report func(Event)) error {
	if c.prof.BrokerURL != "" && c.prof.ServerURL == "" {
		return nil
	}
	return errors.Join(c.maintainPreKeys(ctx, report), c.maintainDelivery(ctx), c.maintainDeviceList(ctx, report),
		c.reportDeviceChanges(ctx, report), c.maintainGroupDevices(ctx))
}

// maintainPreKeys refills the directory's one-time prekeys when they run
// low and rotates the signed prekey when it is old; it reports bundles the
// directory had to serve without one-time prekeys because someone fetched
// them too fast. The keyring is stored before the upload: keys the server
// never received are harmless, while keys it hands out whose private
// halves were lost would break first messages.
func (c *Client) maintainPreKeys(ctx context.Context, report func(Event)) error {
	counts, status, err := c.preKeyStatus(ctx)
	if err != nil {
		return err
	}
	if err := c.checkDraining(ctx, status, report); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var up apiclient.PreKeyUpload
	var changed bool
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		rb, err := tx.GetSecret(secretKeyring)
		if err != nil {
			return err
		}
		ring, err := pqxdh.ParseKeyring(rb)
		if err != nil {
			return err
		}
		if counts.OneTimeRemaining < refillBelow {
			if up.OneTime, err = ring.GenerateOneTime(initialOneTime); err != nil {
				return err
			}
			changed = true
		}
		if counts.KEMOneTimeRemaining < refillBelow/4 {
			if up.KEMOne, err = ring.GenerateKEMOneTime(c.id, initialKEMOne); err != nil {
				return err
			}
			changed = true
		}
		if c.now().Sub(time.Unix(ring.SignedPreKeyCreated(), 0)) > signedPreKeyLife {
			spk, err := ring.RotateSignedPreKey(c.id, c.now().Unix())
			if err != nil {
				return err
			}
			up.Signed, changed = &spk, true
		}
		if !changed {
			return nil
		}
		return tx.PutSecret(secretKeyring, ring.Marshal())
	})
	if err != nil || !changed {
		return err
	}
	return serverErr(c.api.UploadPreKeys(ctx, c.prof.Username, c.id, c.dev.ID(), up))
}
