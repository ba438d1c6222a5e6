package hush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/proto"
)

// UserInfo is what FindUsers reports about one user.
type UserInfo struct {
	Username string
	// IdentityKey is the identity key the directory serves now, and
	// Fingerprint its short form (doc/SPEC.md §3.3).
	IdentityKey []byte
	Fingerprint string
	// Devices are the user's devices the directory lists, each certified
	// by IdentityKey.
	Devices []uint32
	// MatchesPinned: IdentityKey is the key pinned for this user (this
	// lookup pins it when the user was not a contact yet; see NewContact).
	// When false the directory serves another key: the contact is flagged
	// as changed (Contact.Changed) and nothing is sealed or sent to the
	// user until AcceptIdentity or RejectIdentity.
	MatchesPinned bool
	// NewContact: the user was not a contact before this lookup.
	NewContact bool
	// Verified: the user compared safety numbers with this user.
	Verified bool
}

// UnknownUsersError names the users the directory has no active account
// for. It matches ErrUnknownUser with errors.Is.
type UnknownUsersError struct{ Users []string }

func (e *UnknownUsersError) Error() string {
	names := strings.Join(e.Users[:min(len(e.Users), 10)], ", ")
	if len(e.Users) > 10 {
		names += fmt.Sprintf(" and %d more", len(e.Users)-10)
	}
	return fmt.Sprintf("unknown user(s): %s (no active account of that name on the server; check the spelling)", names)
}

func (e *UnknownUsersError) Unwrap() error { return ErrUnknownUser }

// FindUsers looks up many users in the directory at once (one signed
// answer per 1,000 names) and, as Contact does for one, pins each key on
// first contact or flags a change. It returns what it found, by username;
// when some users are unknown it returns the others along with an
// *UnknownUsersError naming them. The own username is reported too (its
// key compared with the profile's), and is never stored as a contact.
func (c *Client) FindUsers(ctx context.Context, users ...string) (map[string]*UserInfo, error) {
	found, missing, err := c.lookupMany(ctx, users)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*UserInfo, len(found))
	for name, u := range found {
		key := u.IdentityKey.Bytes()
		info := &UserInfo{Username: name, IdentityKey: key, Fingerprint: identity.Fingerprint(u.IdentityKey)}
		for _, d := range verifiedDevices(key, u.Devices) {
			info.Devices = append(info.Devices, d.ID)
		}
		if name == c.prof.Username {
			info.MatchesPinned = u.IdentityKey.Equal(c.id.Public())
			out[name] = info
			continue
		}
		known, err := c.isContact(ctx, name)
		if err != nil {
			return nil, err
		}
		rec, err := c.mergeContact(ctx, name, u)
		if err != nil {
			return nil, err
		}
		info.NewContact = !known
		info.MatchesPinned = bytes.Equal(rec.IdentityKey, key)
		info.Verified = rec.Verified && info.MatchesPinned
		out[name] = info
	}
	if len(missing) > 0 {
		return out, &UnknownUsersError{Users: missing}
	}
	return out, nil
}

func (c *Client) isContact(ctx context.Context, user string) (bool, error) {
	var ok bool
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		_, err := getContact(tx, user)
		switch {
		case err == nil:
			ok = true
		case errors.Is(err, localstore.ErrNotFound):
			err = nil
		}
		return err
	})
	return ok, err
}

// lookupMany asks the directory about users (repeats dropped) in as few
// requests as its per-request cap allows, and returns the active accounts
// by name and, sorted, the names it has no active account for (invalid
// names included).
func (c *Client) lookupMany(ctx context.Context, users []string) (map[string]*proto.User, []string, error) {
	var query, missing []string
	seen := map[string]bool{}
	for _, u := range users {
		if seen[u] {
			continue
		}
		seen[u] = true
		if proto.ValidUsername(u) {
			query = append(query, u)
		} else {
			missing = append(missing, u)
		}
	}
	found := make(map[string]*proto.User, len(query))
	for batch := range slices.Chunk(query, proto.MaxLookup) {
		ans, err := c.api.Lookup(ctx, batch...)
		if err != nil {
			return nil, nil, serverErr(err)
		}
		for _, name := range batch {
			u, err := ans.User(name)
			switch {
			case errors.Is(err, proto.ErrNoSuchUser):
				missing = append(missing, name)
			case err != nil:
				return nil, nil, err
			case u.State != proto.StateActive:
				missing = append(missing, name)
			default:
				found[name] = u
			}
		}
	}
	slices.Sort(missing)
	return found, missing, nil
}
