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

// OpenRecovery opens a recovery request for username's account with a
// one-time key (doc/API.md §7.1). It needs no account.
func (c *Client) OpenRecovery(ctx context.Context, username string, pub []byte) (*proto.LinkOpenAnswer, error) {
	var out proto.LinkOpenAnswer
	if err := c.postJSON(ctx, "/v1/recovery", "", proto.RecoveryOpenRequest{Username: username, PublicKey: pub}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RecoveryKey returns whose recovery a request is, and its key.
func (c *Client) RecoveryKey(ctx context.Context, slot string) (*proto.RecoveryKeyAnswer, error) {
	var out proto.RecoveryKeyAnswer
	if _, err := c.do(ctx, "GET", "/v1/recovery/"+url.PathEscape(slot), "", nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AnswerRecovery posts a holder's sealed share, as the logged-in device of
// token.
func (c *Client) AnswerRecovery(ctx context.Context, token, slot string, ct []byte) error {
	return c.postJSON(ctx, "/v1/recovery/"+url.PathEscape(slot)+"/answer", token, proto.LinkAnswer{Ciphertext: ct}, nil)
}

// RecoveryAnswers waits up to waitSeconds for more than have answers: nil
// while there are none new.
func (c *Client) RecoveryAnswers(ctx context.Context, slot string, have, waitSeconds int) ([][]byte, error) {
	b, err := c.do(ctx, "GET", fmt.Sprintf("/v1/recovery/%s/answers?have=%d&wait=%d", url.PathEscape(slot), have, waitSeconds), "", nil, "", nil)
	if err != nil || len(b) == 0 {
		return nil, err
	}
	var out proto.RecoveryAnswers
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding server answer: %w", err)
	}
	return out.Ciphertexts, nil
}
