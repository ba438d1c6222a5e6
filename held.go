package hush

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/localstore"
)

// Held envelopes (doc/SPEC.md §3.5). An envelope from a contact whose
// identity key changed and is not yet accepted cannot be read without
// setting up a session under the unaccepted key. It is kept as it came
// (the sealed envelope, encrypted at rest like every secret), acknowledged
// to the relay, and reported; AcceptIdentity runs the held envelopes
// through the normal receive path.

// heldPrefix names a contact's held envelopes among the profile's secrets.
const heldPrefix = "held/"

// Bounds per contact: a sender (or anyone claiming to be it) cannot fill
// the profile. An envelope beyond them is dropped and reported.
const (
	maxHeld      = 1000
	maxHeldBytes = 16 << 20
)

// Held is an envelope kept unread because its sender's identity key
// changed: it is delivered once the user accepts the new key.
type Held struct {
	From  string // the contact
	Count int    // envelopes now held from From
}

// heldErr is handle's answer for an envelope it held: acknowledge and
// report, like a drop, but nothing was lost.
type heldErr struct{ Held }

func (h *heldErr) Error() string {
	return fmt.Sprintf("%d message(s) from %s held: identity key changed", h.Count, h.From)
}

func loadHeld(tx *localstore.Tx, user string) ([][]byte, error) {
	b, err := tx.GetSecret(heldPrefix + user)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var envs [][]byte
	return envs, decodeJSON(b, &envs, "held envelopes")
}

func saveHeld(tx *localstore.Tx, user string, envs [][]byte) error {
	if len(envs) == 0 {
		envs = [][]byte{} // an empty list, not null
	}
	return tx.PutSecret(heldPrefix+user, encodeJSON(envs))
}

// hold keeps env from user, whose key changed. A redelivered envelope is
// kept once.
func (c *Client) hold(ctx context.Context, user string, env []byte) error {
	var n int
	full := false
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		envs, err := loadHeld(tx, user)
		if err != nil {
			return err
		}
		size := 0
		for _, e := range envs {
			if bytes.Equal(e, env) {
				n = len(envs)
				return nil
			}
			size += len(e)
		}
		if full = len(envs) >= c.limits.held || size+len(env) > c.limits.heldBytes; full {
			return nil
		}
		envs = append(envs, env)
		n = len(envs)
		return saveHeld(tx, user, envs)
	})
	switch {
	case err != nil:
		return err // a local failure: not acknowledged, it comes again
	case full:
		return drop("from %s, whose identity key changed: %d messages (or %d MiB) are held already; this one is lost (%w)",
			user, c.limits.held, c.limits.heldBytes>>20, ErrIdentityChanged)
	}
	return &heldErr{Held{From: user, Count: n}}
}

// heldCount returns how many envelopes from user are held.
func heldCount(tx *localstore.Tx, user string) (int, error) {
	envs, err := loadHeld(tx, user)
	return len(envs), err
}

// deliverHeld runs user's held envelopes through the receive path, oldest
// first, and forgets those it processed. It stops at a local failure or
// when an envelope is held again (the key changed once more), keeping
// that one and the rest.
func (c *Client) deliverHeld(ctx context.Context, user string, fn func(Event)) error {
	var envs [][]byte
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		var err error
		envs, err = loadHeld(tx, user)
		return err
	})
	if err != nil || len(envs) == 0 {
		return err
	}
	var done [][]byte
	var perr error
	for _, env := range envs {
		again := false
		perr = c.process(ctx, env, nil, func(e Event) {
			if e.Held != nil {
				again = true
				return
			}
			if fn != nil {
				fn(e)
			}
		})
		if perr != nil || again {
			break
		}
		done = append(done, env)
	}
	// Forgotten only after processing: a crash in between processes them
	// again, and the receive path recognises what it already stored.
	err = c.st.Update(ctx, func(tx *localstore.Tx) error {
		cur, err := loadHeld(tx, user)
		if err != nil {
			return err
		}
		for _, d := range done {
			for i, e := range cur {
				if bytes.Equal(e, d) {
					cur = append(cur[:i], cur[i+1:]...)
					break
				}
			}
		}
		return saveHeld(tx, user, cur)
	})
	return errors.Join(perr, err)
}
