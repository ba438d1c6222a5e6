package apiclient

import (
	"context"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
)

// CreateInvite asks the directory for a one-use invite code issued by
// username (POST /v1/invites), valid for validFor (0: the server's
// default).
func (c *Client) CreateInvite(ctx context.Context, username string, id *identity.IdentityPrivateKey, validFor time.Duration) (*proto.InviteAnswer, error) {
	body, err := proto.SignRequest(id, proto.CreateInviteRequest{
		RequestHeader: proto.RequestHeader{Op: proto.OpCreateInvite, Username: username, Timestamp: c.now().Unix()},
		ExpiresIn:     int64(validFor / time.Second)})
	if err != nil {
		return nil, err
	}
	var ans proto.InviteAnswer
	if _, err := c.do(ctx, "POST", "/v1/invites", "", body, "application/json", &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}
