package envelope

import (
	"crypto/hpke"
	"crypto/sha256"
)

// OpenAny opens a full multi-recipient envelope as one of its recipients
// that does not know which slot is its own (a stored, sealed blob rather
// than a relay delivery): it tries priv on every slot in order and
// decrypts the body with the first key that unwraps. Slots name nobody,
// so this costs up to NumSlots() decapsulations. It returns ErrAuth when
// no slot opens (priv is not a recipient, or the envelope was altered)
// and applies every check of OpenDelivery to the content.
func (m *Multi) OpenAny(priv hpke.PrivateKey) (*Content, error) {
	if err := checkPrivateKey(priv); err != nil {
		return nil, err
	}
	h := sha256.Sum256(m.body)
	for i := range m.NumSlots() {
		slot := m.slots[i*SlotLen : (i+1)*SlotLen]
		rcpt, err := hpke.NewRecipient(slot[:EncLen], priv, suiteKDF, suiteAEAD, []byte(multiSlotInfo))
		if err != nil {
			continue
		}
		key, err := rcpt.Open(h[:], slot[EncLen:])
		if err != nil {
			continue
		}
		defer clear(key)
		return openBody(key, m.body)
	}
	return nil, ErrAuth
}
