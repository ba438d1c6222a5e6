package apiclient

import (
	"context"
	"net/url"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
)

// PublishRoom lists or relists a public room (POST /v1/rooms, doc/API.md
// §6): p signed by the identity key of one of the room's admins.
func (c *Client) PublishRoom(ctx context.Context, key *identity.IdentityPrivateKey, p *proto.Publication) error {
	p.Op = proto.OpPublish
	body, err := proto.SignRequest(key, p)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "POST", "/v1/rooms", "", body, "application/json", nil)
	return err
}

// PublicRooms lists the public rooms (GET /v1/rooms).
func (c *Client) PublicRooms(ctx context.Context) ([]proto.Summary, error) {
	var out proto.RoomsAnswer
	_, err := c.do(ctx, "GET", "/v1/rooms?limit=1000", "", nil, "", &out)
	return out.Rooms, err
}

// PublicRoom returns a room's listing as its admin signed it (GET
// /v1/rooms/{id}); the caller verifies it.
func (c *Client) PublicRoom(ctx context.Context, id string) (*proto.SignedRequest, error) {
	var out proto.SignedRequest
	_, err := c.do(ctx, "GET", "/v1/rooms/"+url.PathEscape(id), "", nil, "", &out)
	return &out, err
}
