package hush

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/group"
	"github.com/hush-chat/hush/internal/localstore"
)

// RequestJoin asks admin, an admin of the request room called name with
// the given id (hex, from GroupInfo.ID as the admin shared it), to let
// this user in. The request is signed by this user's identity key and
// travels over the pairwise session.
func (c *Client) RequestJoin(ctx context.Context, groupID, admin string) error {
	id, err := parseGroupID(groupID)
	if err != nil {
		return err
	}
	j, err := group.NewJoinRequest(id, c.selfMember(), c.id, c.now().Unix())
	if err != nil {
		return err
	}
	return c.sendControl(ctx, admin, encodeJoinRequest(j), "join request to "+admin)
}

func parseGroupID(s string) (group.ID, error) {
	var id group.ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != group.IDSize {
		return id, fmt.Errorf("%w: %q is not a group id (32 hex characters)", ErrUnknownGroup, s)
	}
	return group.ID(b), nil
}

// receiveJoinRequest keeps a join request for a request room this user
// administers, until ApproveJoin or RejectJoin.
func (c *Client) receiveJoinRequest(recs []*groupRecord, from envelope.Address, body []byte) error {
	j, err := group.ParseJoinRequest(body)
	if err != nil {
		return err
	}
	r := findByID(recs, j.GroupID)
	if r == nil || r.Gone {
		return fmt.Errorf("%w: join request for a group this user is not in", group.ErrWrongGroup)
	}
	st, err := r.current()
	if err != nil {
		return err
	}
	switch {
	case j.Member.Name != from.User:
		return fmt.Errorf("%w: join request for %s sent by %s", group.ErrForged, j.Member.Name, from.User)
	case !st.IsAdmin(c.prof.Username) || st.Type() != group.Request:
		return fmt.Errorf("%w: join request for a group that takes none here", group.ErrInvalid)
	}
	if _, ok := st.Member(from.User); ok {
		return fmt.Errorf("%w: %s is already a member", group.ErrInvalid, from.User)
	}
	r.Requests = slices.DeleteFunc(r.Requests, func(b []byte) bool { return requester(b) == from.User })
	r.Requests = append(r.Requests, j.Marshal())
	return nil
}

func requester(b []byte) string {
	if j, err := group.ParseJoinRequest(b); err == nil {
		return j.Member.Name
	}
	return ""
}

// GroupRequests lists the users waiting to join the group.
func (c *Client) GroupRequests(ctx context.Context, name string) ([]string, error) {
	var out []string
	err := c.st.View(ctx, func(tx *localstore.Tx) error {
		recs, err := loadGroups(tx)
		if err != nil {
			return err
		}
		r, err := findByName(recs, name)
		if err != nil {
			return err
		}
		for _, b := range r.Requests {
			out = append(out, requester(b))
		}
		return nil
	})
	return out, err
}

// takeRequest removes and returns user's pending request.
func (c *Client) takeRequest(ctx context.Context, name, user string) ([]byte, error) {
	var req []byte
	err := c.withGroup(ctx, name, func(_ *localstore.Tx, r *groupRecord) error {
		i := slices.IndexFunc(r.Requests, func(b []byte) bool { return requester(b) == user })
		if i < 0 {
			return fmt.Errorf("%w: %s has not asked to join #%s", ErrUnknownUser, user, r.Name)
		}
		req = r.Requests[i]
		r.Requests = slices.Delete(r.Requests, i, i+1)
		return nil
	})
	return req, err
}

// ApproveJoin lets user in (admins of a request room): an admin-signed
// approve change carrying user's signed request, sent to every member and
// to user with the state it needs.
func (c *Client) ApproveJoin(ctx context.Context, name, user string) (*GroupInfo, error) {
	req, err := c.takeRequest(ctx, name, user)
	if err != nil {
		return nil, err
	}
	j, err := group.ParseJoinRequest(req)
	if err != nil {
		return nil, err
	}
	// The request must come from the key this user pinned for user.
	m, err := c.memberFor(ctx, user)
	if err != nil {
		return nil, err
	}
	if m.Identity != j.Member.Identity {
		return nil, fmt.Errorf("%w: %s's request is signed by another key", ErrIdentityChanged, user)
	}
	return c.changeGroup(ctx, name, group.Op{Kind: group.KindApprove, Request: req})
}

// RejectJoin drops user's pending request.
func (c *Client) RejectJoin(ctx context.Context, name, user string) error {
	_, err := c.takeRequest(ctx, name, user)
	return err
}
