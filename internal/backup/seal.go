package backup

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// Seal makes a backup of payload for username under a fresh content key,
// wrapped under key (from NewKey; its salt and parameters go into the
// header) and, if recovery is not nil, under the 32-byte recovery secret R
// of social recovery.
func Seal(username string, payload []byte, key *Key, recovery []byte) (*Backup, error) {
	if err := checkUsername(username); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no backup key", ErrInvalid)
	}
	if recovery != nil && len(recovery) != SecretSize {
		return nil, fmt.Errorf("%w: the recovery secret must be %d bytes", ErrInvalid, SecretSize)
	}
	ck := make([]byte, KeySize)
	if _, err := rand.Read(ck); err != nil {
		return nil, err
	}
	b := &Backup{salt: key.salt, params: key.params}
	b.passWrap = wrap(key.key[:], kindPassphrase, username, ck)
	if recovery != nil {
		b.recoveryWrap = wrap(subkey(recovery, recoveryLabel), kindRecovery, username, ck)
	}
	b.payload = sealPayload(ck, username, payload)
	b.tag = headerTag(ck, username, b.signed())
	return b, nil
}

// OpenWithKey opens the backup with the backup key derived for it (KeyFor)
// and returns the payload. A key that does not open the passphrase wrap
// gives ErrWrongPassphrase; a header or payload that fails authentication
// after it opened gives ErrTampered.
func OpenWithKey(b *Backup, username string, key *Key) ([]byte, error) {
	ck, err := b.unwrapPassphrase(username, key)
	if err != nil {
		return nil, err
	}
	return b.open(username, ck)
}

// OpenWithRecovery opens the backup with the recovery secret R rebuilt from
// the holders' shares and returns the payload.
func OpenWithRecovery(b *Backup, username string, recovery []byte) ([]byte, error) {
	if err := checkUsername(username); err != nil {
		return nil, err
	}
	if len(recovery) != SecretSize {
		return nil, fmt.Errorf("%w: the recovery secret must be %d bytes", ErrInvalid, SecretSize)
	}
	if !b.HasRecovery() {
		return nil, ErrNoRecovery
	}
	ck, ok := unwrap(subkey(recovery, recoveryLabel), kindRecovery, username, b.recoveryWrap)
	if !ok {
		return nil, ErrWrongRecoverySecret
	}
	return b.open(username, ck)
}

// Rewrap changes the backup's passphrase (`hush backup passwd`): it opens
// the backup with oldKey, checks the payload, and returns a backup whose
// passphrase wrap is under newKey (from NewKey), with newKey's salt and
// parameters. The content key, the payload bytes and the recovery wrap are
// kept.
func Rewrap(b *Backup, username string, oldKey, newKey *Key) (*Backup, error) {
	if newKey == nil {
		return nil, fmt.Errorf("%w: no new backup key", ErrInvalid)
	}
	ck, err := b.unwrapPassphrase(username, oldKey)
	if err != nil {
		return nil, err
	}
	if _, err := b.open(username, ck); err != nil {
		return nil, err
	}
	nb := &Backup{salt: newKey.salt, params: newKey.params, recoveryWrap: b.recoveryWrap, payload: b.payload}
	nb.passWrap = wrap(newKey.key[:], kindPassphrase, username, ck)
	nb.tag = headerTag(ck, username, nb.signed())
	return nb, nil
}

// AddRecovery sets up social recovery: it opens the backup with key and
// returns a backup whose recovery wrap is under the recovery secret R,
// replacing any earlier one. The payload bytes and the passphrase wrap are
// kept.
func AddRecovery(b *Backup, username string, key *Key, recovery []byte) (*Backup, error) {
	if len(recovery) != SecretSize {
		return nil, fmt.Errorf("%w: the recovery secret must be %d bytes", ErrInvalid, SecretSize)
	}
	ck, err := b.unwrapPassphrase(username, key)
	if err != nil {
		return nil, err
	}
	if _, err := b.open(username, ck); err != nil {
		return nil, err
	}
	nb := &Backup{salt: b.salt, params: b.params, passWrap: b.passWrap, payload: b.payload}
	nb.recoveryWrap = wrap(subkey(recovery, recoveryLabel), kindRecovery, username, ck)
	nb.tag = headerTag(ck, username, nb.signed())
	return nb, nil
}

func (b *Backup) unwrapPassphrase(username string, key *Key) ([]byte, error) {
	if err := checkUsername(username); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no backup key", ErrInvalid)
	}
	if key.salt != b.salt || key.params != b.params {
		return nil, fmt.Errorf("%w: the key was derived for another backup header (derive it with KeyFor)", ErrInvalid)
	}
	ck, ok := unwrap(key.key[:], kindPassphrase, username, b.passWrap)
	if !ok {
		return nil, ErrWrongPassphrase
	}
	return ck, nil
}

// open checks the header tag, then decrypts the payload. The tag stops a
// server from mixing wraps of different headers (a rolled-back recovery
// wrap next to the current passphrase wrap) or changing the salt and
// parameters unnoticed on the recovery path.
func (b *Backup) open(username string, ck []byte) ([]byte, error) {
	want := headerTag(ck, username, b.signed())
	if !hmac.Equal(want[:], b.tag[:]) {
		return nil, ErrTampered
	}
	if len(b.payload) < minPayload { // only a Backup not made by Parse or Seal
		return nil, ErrMalformed
	}
	a := newGCM(subkey(ck, payloadLabel))
	n := b.payload[:nonceSize]
	pt, err := a.Open(nil, n, b.payload[nonceSize:], payloadAAD(username))
	if err != nil {
		return nil, ErrTampered
	}
	return pt, nil
}

// wrap encrypts the content key: nonce (12) || AES-256-GCM(key, nonce,
// aad, ck) with aad = label || 0x00 || kind || b8(username); the username
// stops a wrap being moved to another account, the kind a wrap being
// moved to the other slot.
func wrap(key []byte, kind byte, username string, ck []byte) []byte {
	n := make([]byte, nonceSize, wrapSize)
	if _, err := rand.Read(n); err != nil {
		panic("backup: crypto/rand failed: " + err.Error())
	}
	return newGCM(key).Seal(n, n, ck, wrapAAD(kind, username))
}

func unwrap(key []byte, kind byte, username string, w []byte) ([]byte, bool) {
	if len(w) != wrapSize { // only a Backup not made by Parse or Seal
		return nil, false
	}
	ck, err := newGCM(key).Open(nil, w[:nonceSize], w[nonceSize:], wrapAAD(kind, username))
	return ck, err == nil
}

func sealPayload(ck []byte, username string, payload []byte) []byte {
	n := make([]byte, nonceSize, nonceSize+len(payload)+gcmTag)
	if _, err := rand.Read(n); err != nil {
		panic("backup: crypto/rand failed: " + err.Error())
	}
	return newGCM(subkey(ck, payloadLabel)).Seal(n, n, payload, payloadAAD(username))
}

func wrapAAD(kind byte, username string) []byte {
	return b8(append([]byte(wrapLabel+"\x00"), kind), []byte(username))
}

func payloadAAD(username string) []byte {
	return b8(append([]byte(payloadLabel+"\x00"), version), []byte(username))
}

// headerTag = HMAC-SHA256(HKDF(ck, "hush/v2 backup header"),
// label || 0x00 || b8(username) || header without the tag).
func headerTag(ck []byte, username string, signed []byte) [tagSize]byte {
	m := hmac.New(sha256.New, subkey(ck, headerLabel))
	m.Write(b8([]byte(headerLabel+"\x00"), []byte(username)))
	m.Write(signed)
	var t [tagSize]byte
	m.Sum(t[:0])
	return t
}

func newGCM(key []byte) cipher.AEAD {
	c, err := aes.NewCipher(key)
	if err != nil {
		panic("backup: AES: " + err.Error()) // keys are always 32 bytes here
	}
	a, err := cipher.NewGCM(c)
	if err != nil {
		panic("backup: GCM: " + err.Error())
	}
	return a
}
