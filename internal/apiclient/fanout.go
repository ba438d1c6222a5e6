package apiclient

import (
	"context"
	"fmt"
	"github.com/hush-chat/hush/internal/proto"
)

// FanOut uploads env once for every mailbox of routing, the encoded
// recipient list (proto.NewRouting: u8 0x01 || u16 n || n × 16-byte
// mailbox id), through POST /v1/fanout (doc/API.md §4.5).
func (c *Client) FanOut(ctx context.Context, token string, routing, env []byte) (*proto.FanoutAnswer, error) {
	body := make([]byte, 0, len(routing)+len(env))
	body = append(append(body, routing...), env...)
	var r proto.FanoutAnswer
	if _, err := c.do(ctx, "POST", "/v1/fanout", token, body, "application/octet-stream", &r); err != nil {
		return nil, err
	}
	if len(routing) >= 3 {
		if n := int(routing[1])<<8 | int(routing[2]); len(r.Seqs) != n {
			return nil, fmt.Errorf("server answered a fan-out to %d mailboxes with %d sequence numbers", n, len(r.Seqs))
		}
	}
	return &r, nil
}
