package proto

import (
	"crypto/hpke"
	"errors"

	"github.com/hush-chat/hush/internal/identity"
)

// Login (doc/SPEC.md §10.2, doc/API.md §3): the server seals a fresh
// nonce to the device's envelope key; the device opens it and sends it
// back for a bearer token.
const (
	// ChallengeInfo is the HPKE info of an auth challenge. It differs from
	// every envelope info, so a challenge can never make a device open one
	// of its envelopes for the server.
	ChallengeInfo = "hush/v1 auth challenge"
	// NonceSize is the size of the sealed challenge nonce.
	NonceSize = 32
)

// SealChallenge seals nonce to the device's envelope key: the server's
// side of a login.
func SealChallenge(cert *identity.DeviceCert, nonce []byte) ([]byte, error) {
	return hpke.Seal(cert.Envelope, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte(ChallengeInfo), nonce)
}

// OpenChallenge is the device's side: it opens a sealed challenge with the
// device's envelope key and returns the nonce to send back.
func OpenChallenge(dev *identity.DevicePrivateKey, sealed []byte) ([]byte, error) {
	nonce, err := hpke.Open(dev.EnvelopeKey(), hpke.HKDFSHA256(), hpke.AES256GCM(), []byte(ChallengeInfo), sealed)
	if err != nil {
		return nil, errors.New("auth: challenge does not open with this device's key")
	}
	if len(nonce) != NonceSize {
		return nil, errors.New("auth: challenge has the wrong size")
	}
	return nonce, nil
}

// ChallengeRequest is the body of POST /v1/auth/challenge.
type ChallengeRequest struct {
	Username string `json:"username"`
	DeviceID uint32 `json:"device_id"`
}

// ChallengeAnswer is the answer of POST /v1/auth/challenge: the nonce
// sealed to the device's envelope key (SealChallenge).
type ChallengeAnswer struct {
	Challenge []byte `json:"challenge"`
	ExpiresIn int    `json:"expires_in"` // seconds
}

// TokenRequest is the body of POST /v1/auth/token: the opened nonce.
type TokenRequest struct {
	Username string `json:"username"`
	DeviceID uint32 `json:"device_id"`
	Response []byte `json:"response"`
}

// TokenAnswer is the answer of POST /v1/auth/token.
type TokenAnswer struct {
	Token     string `json:"token"`
	Mailbox   string `json:"mailbox"`
	ExpiresAt int64  `json:"expires_at"` // Unix seconds
}
