package hush

import (
	"encoding/hex"
	"errors"
	"slices"

	"github.com/hush-chat/hush/internal/localstore"
)

// Group control messages (changes, sender keys, join and resend requests)
// are applied, not stored as messages, so History cannot tell that one
// arriving again was received already. The ids of the last ones from each
// sender are kept, so that a redelivery (the relay sends again what was
// stored but not acknowledged) is recognised as such instead of read as a
// message this device lost and asked to be sent again.
const (
	controlSeenPrefix = "control-seen/"
	controlSeenKeep   = 256
)

func loadControlSeen(tx *localstore.Tx, sender string) ([]string, error) {
	b, err := tx.GetSecret(controlSeenPrefix + sender)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	return ids, decodeJSON(b, &ids, "control ids")
}

// rememberControl records control message id from sender in tx.
func rememberControl(tx *localstore.Tx, sender string, id [16]byte) error {
	ids, err := loadControlSeen(tx, sender)
	if err != nil {
		return err
	}
	ids = append(ids, hex.EncodeToString(id[:]))
	if n := len(ids) - controlSeenKeep; n > 0 {
		ids = slices.Delete(ids, 0, n)
	}
	return tx.PutSecret(controlSeenPrefix+sender, encodeJSON(ids))
}

// controlSeen reports whether control message id from sender was applied.
func controlSeen(tx *localstore.Tx, sender string, id [16]byte) (bool, error) {
	ids, err := loadControlSeen(tx, sender)
	return slices.Contains(ids, hex.EncodeToString(id[:])), err
}
