package apiclient

import (
	"context"
	"fmt"
)

// FanoutError is one recipient the relay could not deliver a fan-out to.
type FanoutError struct {
	Index int    `json:"index"` // position in the routing list
	Code  string `json:"code"`  // unknown_mailbox, mailbox_full, mailbox_share_full, account_storage_full
}

// FanoutResult is the relay's answer to a fan-out: one sequence number per
// recipient in routing order (0 where that recipient failed) and the
// per-recipient failures, which do not fail the others.
type FanoutResult struct {
	Seqs   []int64       `json:"seqs"`
	Errors []FanoutError `json:"errors"`
}

// FanOut uploads env once for every mailbox of routing, the encoded
// recipient list (relay.NewRouting: u8 0x01 || u16 n || n × 16-byte
// mailbox id), through POST /v1/fanout (doc/API.md §4.5).
func (c *Client) FanOut(ctx context.Context, token string, routing, env []byte) (*FanoutResult, error) {
	body := make([]byte, 0, len(routing)+len(env))
	body = append(append(body, routing...), env...)
	var r FanoutResult
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
