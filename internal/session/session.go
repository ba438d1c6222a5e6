// Package session joins session setup (internal/pqxdh) to the Double
// Ratchet (internal/ratchet): Start turns a verified prekey bundle and a
// first plaintext into a ratchet state and a prekey message; Accept turns a
// prekey message into the responder's ratchet state and that plaintext.
//
// Accept is copy-then-commit across both layers: the keyring's one-time
// prekeys are consumed only after the first ratchet message authenticates,
// so a forged prekey message burns nothing and changes nothing.
//
// The package is pure (no network, disk or clock). Whether the identity in
// a bundle or in an incoming prekey message is the one expected for that
// user is the caller's check.
package session

import (
	"fmt"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/ratchet"
)

// Start sets up a session with the device described by b and encrypts the
// first plaintext. It returns the initiator's ratchet state and the encoded
// prekey message to send.
func Start(self *identity.DevicePrivateKey, selfCert *identity.DeviceCert, b *pqxdh.Bundle, plaintext []byte) (*ratchet.State, []byte, error) {
	in, err := pqxdh.Initiate(self, selfCert, b)
	if err != nil {
		return nil, nil, err
	}
	defer clear(in.SharedKey)
	st, err := ratchet.InitInitiator(in.SharedKey, in.AD, in.RemoteRatchetKey)
	if err != nil {
		return nil, nil, err
	}
	msg, err := st.Encrypt(plaintext)
	if err != nil {
		return nil, nil, err
	}
	pm := &pqxdh.PreKeyMessage{Header: in.Header, Message: msg}
	return st, pm.Marshal(), nil
}

// Accepted is the responder's result of a prekey message.
type Accepted struct {
	State     *ratchet.State
	Plaintext []byte
	// Initiator is the sender's verified device certificate. The caller must
	// check that its identity key is the one it knows for the sender.
	Initiator *identity.DeviceCert
}

// Accept processes an encoded prekey message with the responder's device
// keys and keyring. On success the keyring has consumed the one-time
// prekeys the message used; the caller must store the keyring and the new
// state before acknowledging the message. On failure nothing changed.
func Accept(self *identity.DevicePrivateKey, selfCert *identity.DeviceCert, ring *pqxdh.Keyring, prekeyMessage []byte) (*Accepted, error) {
	pm, err := pqxdh.ParsePreKeyMessage(prekeyMessage)
	if err != nil {
		return nil, err
	}
	f, err := ring.Find(&pm.Header)
	if err != nil {
		return nil, err
	}
	r, err := pqxdh.Respond(self, selfCert, &pm.Header, f.Signed, f.KEM, f.OneTime)
	if err != nil {
		return nil, err
	}
	defer clear(r.SharedKey)
	st, err := ratchet.InitResponder(r.SharedKey, r.AD, f.Signed.Key)
	if err != nil {
		return nil, err
	}
	pt, err := st.Decrypt(pm.Message)
	if err != nil {
		return nil, fmt.Errorf("hush: first message of new session: %w", err)
	}
	ring.Consume(&pm.Header)
	return &Accepted{State: st, Plaintext: pt, Initiator: pm.Header.Initiator}, nil
}
