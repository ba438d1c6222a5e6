package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/hush-chat/hush/internal/proto"
)

// OpenLink opens a link slot for a new device's one-time key (doc/API.md
// §7). It needs no account.
func (c *Client) OpenLink(ctx context.Context, pub []byte) (*proto.LinkOpenAnswer, error) {
	var out proto.LinkOpenAnswer
	if err := c.postJSON(ctx, "/v1/links", "", proto.LinkOpenRequest{PublicKey: pub}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LinkKey returns the key a slot holds.
func (c *Client) LinkKey(ctx context.Context, slot string) ([]byte, error) {
	var out proto.LinkKeyAnswer
	if _, err := c.do(ctx, "GET", "/v1/links/"+url.PathEscape(slot), "", nil, "", &out); err != nil {
		return nil, err
	}
	return out.PublicKey, nil
}

// AnswerLink posts the provisioning message to a slot, as the logged-in
// device of token.
func (c *Client) AnswerLink(ctx context.Context, token, slot string, ct []byte) error {
	return c.postJSON(ctx, "/v1/links/"+url.PathEscape(slot)+"/answer", token, proto.LinkAnswer{Ciphertext: ct}, nil)
}

// FetchLinkAnswer waits up to waitSeconds for a slot's answer: nil while
// there is none yet.
func (c *Client) FetchLinkAnswer(ctx context.Context, slot string, waitSeconds int) ([]byte, error) {
	b, err := c.do(ctx, "GET", fmt.Sprintf("/v1/links/%s/answer?wait=%d", url.PathEscape(slot), waitSeconds), "", nil, "", nil)
	if err != nil || len(b) == 0 {
		return nil, err
	}
	var out proto.LinkAnswer
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding server answer: %w", err)
	}
	return out.Ciphertext, nil
}
