// Package backup holds the cryptography of hush's password-protected key
// backup (doc/SPEC.md §16, design in doc/DEVICES.md §5–§6), for both sides:
//
//   - the server's side of the OPRF (RFC 9497, OPRF mode,
//     ristretto255-SHA512): ServerKey derives an account's OPRF key from the
//     server's backup secret, Evaluate answers one blinded element;
//   - the client's side: Blind and Finalize turn a passphrase into the OPRF
//     output, NewKey and KeyFor harden it with Argon2id into a backup Key;
//   - the format: Seal makes a backup (header and payload ciphertext),
//     OpenWithKey and OpenWithRecovery open it, Rewrap changes the
//     passphrase without re-encrypting the payload, AddRecovery sets the
//     social-recovery wrap.
//
// The package promises:
//   - without the server's evaluation a passphrase cannot be tested against a
//     backup, and with it every guess still costs one Argon2id derivation;
//   - a backup opens only for the account it was sealed for; every byte of
//     it is authenticated on either path (a changed byte is refused);
//   - a server cannot make a client derive with weak or huge Argon2id
//     parameters: decoding refuses anything outside [MinParams, MaxParams];
//   - a wrong passphrase or recovery secret gives one error that says
//     nothing more (ErrWrongPassphrase, ErrWrongRecoverySecret); a
//     malformed or altered backup gives ErrMalformed or ErrTampered;
//   - strict decoding: exact sizes, no trailing bytes, one encoding per
//     value, no panic on any input.
//
// The payload is opaque bytes here (the client encodes it). The package is
// pure: no network, no disk, no clock; randomness comes from crypto/rand.
// Its functions are safe for concurrent use; a Key or Backup is not
// modified after it is made.
package backup

import "errors"

// Spec labels (doc/SPEC.md §16.1).
const (
	oprfInfoLabel = "hush/v2 backup oprf"
	wrapLabel     = "hush/v2 backup wrap"
	payloadLabel  = "hush/v2 backup payload"
	headerLabel   = "hush/v2 backup header"
	recoveryLabel = "hush/v2 backup recovery"
)

// Sizes (doc/SPEC.md §16.1).
const (
	// SecretSize is the length of the server's backup secret and of a
	// recovery secret.
	SecretSize = 32
	// OPRFKeySize is the length of an account's OPRF key (a scalar).
	OPRFKeySize = 32
	// ElementSize is the length of a blinded or evaluated element.
	ElementSize = 32
	// OutputSize is the length of the OPRF output.
	OutputSize = 64
	// SaltSize is the length of the Argon2id salt.
	SaltSize = 16
	// KeySize is the length of a backup key and of the content key.
	KeySize = 32
	// MaxPassphrase is the longest passphrase in bytes (RFC 9497 inputs
	// are at most 2^16-1 bytes; a passphrase needs far less).
	MaxPassphrase = 1024
	// MaxUsername is the longest username in bytes (SPEC §6).
	MaxUsername = 64

	version   = 0x01
	nonceSize = 12
	gcmTag    = 16
	wrapSize  = nonceSize + KeySize + gcmTag // 60
	tagSize   = 32                           // HMAC-SHA256
	// fixed part of the header: version, salt, t, m, p
	prefixSize = 1 + SaltSize + 4 + 4 + 1
	minPayload = nonceSize + gcmTag

	kindPassphrase = 0x01
	kindRecovery   = 0x02
)

// Errors. Check them with errors.Is; the ones a decoder returns wrap
// ErrMalformed and name the field.
var (
	// ErrWrongPassphrase: the passphrase wrap did not open under the key
	// (a wrong passphrase, or a header that is not this backup's).
	ErrWrongPassphrase = errors.New("the backup passphrase is wrong: check it and try again")
	// ErrWrongRecoverySecret: the recovery wrap did not open under the
	// recovery secret.
	ErrWrongRecoverySecret = errors.New("the recovery secret does not open this backup: collect the shares of its latest recovery setup and try again")
	// ErrNoRecovery: the backup has no recovery wrap.
	ErrNoRecovery = errors.New("this backup has no social recovery set up: restore it with its passphrase instead")
	// ErrMalformed: the bytes are not a backup of this version.
	ErrMalformed = errors.New("the backup is damaged or not a hush backup: fetch it again or make a new one")
	// ErrTampered: the key was right but the header or payload fails
	// authentication (altered, truncated, or sealed for another account).
	ErrTampered = errors.New("the backup was altered or belongs to another account: fetch it again or make a new one")
	// ErrInvalid: a caller passed an argument out of range (a username,
	// passphrase, secret or element of the wrong size or form).
	ErrInvalid = errors.New("backup: invalid argument")
)
