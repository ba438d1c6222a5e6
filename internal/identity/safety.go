package identity

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/hush-chat/hush/internal/wire"
)

const (
	// safetyIterations makes each fingerprint cost ~5,200 SHA-512 calls, so an
	// attacker searching for a key whose number collides with a victim's pays
	// that factor per guess (Signal uses the same count).
	safetyIterations = 5200
	// SafetyNumberDigits is the length of a safety number.
	SafetyNumberDigits = 60
	// qrVersion is the first byte of a safety-number QR payload.
	qrVersion = 0x01
	qrSize    = 1 + 2*32
)

// Fingerprint returns a short hex fingerprint of an identity key, for logs
// and server start-up lines: hex(SHA-256(label || 0x00 || key))[:32] in
// groups of four.
func Fingerprint(k *IdentityKey) string {
	h := sha256.Sum256(signedMessage(labelFingerprint, k.pub))
	s := hex.EncodeToString(h[:16])
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i : i+4])
	}
	return b.String()
}

// SafetyNumber is what two users compare to know that each holds the other's
// real identity key. Both sides compute the same value.
type SafetyNumber struct {
	digits string // 60 decimal digits
	qr     [qrSize]byte
}

// partyHash computes one party's 64-byte iterated hash (doc/SPEC.md §3.4).
func partyHash(username string, k *IdentityKey) []byte {
	w := wire.NewWriter(nil)
	w.Fixed([]byte(labelSafetyNumber))
	w.U8(0)
	w.Bytes8([]byte(username))
	w.Fixed(k.pub)
	h := sha512.Sum512(w.Bytes())
	buf := make([]byte, 0, 64+IdentityKeySize)
	for range safetyIterations {
		buf = append(append(buf[:0], h[:]...), k.pub...)
		h = sha512.Sum512(buf)
	}
	return h[:]
}

// partyDigits turns the first 30 bytes of a party hash into 30 digits: six
// 5-byte big-endian chunks, each reduced mod 100000.
func partyDigits(h []byte) string {
	var b strings.Builder
	for i := range 6 {
		c := h[i*5 : i*5+5]
		v := uint64(c[0])<<32 | uint64(c[1])<<24 | uint64(c[2])<<16 | uint64(c[3])<<8 | uint64(c[4])
		fmt.Fprintf(&b, "%05d", v%100000)
	}
	return b.String()
}

// NewSafetyNumber computes the safety number of two (username, identity key)
// pairs. Argument order does not matter. Usernames must be at most 255
// bytes.
func NewSafetyNumber(userA string, keyA *IdentityKey, userB string, keyB *IdentityKey) (*SafetyNumber, error) {
	if len(userA) > 255 || len(userB) > 255 {
		return nil, fmt.Errorf("hush: username too long for a safety number")
	}
	ha, hb := partyHash(userA, keyA), partyHash(userB, keyB)
	da, db := partyDigits(ha), partyDigits(hb)
	// Sorting by the digit strings makes the number symmetric; ties (the same
	// party twice) sort either way to the same result.
	if db < da {
		da, db = db, da
		ha, hb = hb, ha
	}
	sn := &SafetyNumber{digits: da + db}
	sn.qr[0] = qrVersion
	copy(sn.qr[1:33], ha[:32])
	copy(sn.qr[33:], hb[:32])
	return sn, nil
}

// String returns the 60 digits in twelve groups of five, separated by spaces.
func (s *SafetyNumber) String() string {
	var b strings.Builder
	for i := 0; i < SafetyNumberDigits; i += 5 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.digits[i : i+5])
	}
	return b.String()
}

// Digits returns the 60 digits without separators.
func (s *SafetyNumber) Digits() string { return s.digits }

// QRPayload returns the bytes to put in a QR code: u8 version || the two
// parties' 32-byte hashes in the same order as the digits. It carries more
// bits than the digits, so a scan is a stronger check than reading aloud.
func (s *SafetyNumber) QRPayload() []byte { return bytes.Clone(s.qr[:]) }

// ErrSafetyMismatch is returned when a scanned QR payload does not match.
var ErrSafetyMismatch = fmt.Errorf("hush: safety number does not match")

// VerifyQR compares a scanned payload with s. It returns a *wire.Error for
// a payload that is not a hush safety-number QR code, and ErrSafetyMismatch
// for one that is but differs.
func (s *SafetyNumber) VerifyQR(payload []byte) error {
	r := wire.NewReader("safety number QR payload", payload)
	r.Version(qrVersion)
	r.Fixed("hashes", 64)
	if err := r.Done(); err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(payload, s.qr[:]) != 1 {
		return ErrSafetyMismatch
	}
	return nil
}
