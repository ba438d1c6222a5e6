package backup

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/oprf"
)

// The OPRF of doc/SPEC.md §16.2: RFC 9497, OPRF mode (mode 0x00), suite
// ristretto255-SHA512, through cloudflare/circl. The API is byte-oriented
// so that the server and the client need no circl type.

var suite = oprf.SuiteRistretto255

// ServerKey derives the OPRF key of one account with RFC 9497
// DeriveKeyPair(seed = secret, info = "hush/v2 backup oprf" || 0x00 ||
// username). secret is the server's 32-byte backup secret; the result is a
// secret scalar (OPRFKeySize bytes) the server may derive per request
// instead of storing it.
func ServerKey(secret []byte, username string) ([]byte, error) {
	if len(secret) != SecretSize {
		return nil, fmt.Errorf("%w: the server backup secret must be %d bytes", ErrInvalid, SecretSize)
	}
	if err := checkUsername(username); err != nil {
		return nil, err
	}
	return deriveKeyPair(secret, append([]byte(oprfInfoLabel+"\x00"), username...))
}

// deriveKeyPair is RFC 9497 DeriveKeyPair in OPRF mode, returning skS.
func deriveKeyPair(seed, info []byte) ([]byte, error) {
	k, err := oprf.DeriveKey(suite, oprf.BaseMode, seed, info)
	if err != nil {
		// Never in practice: 256 hashes in a row would have to be zero.
		return nil, fmt.Errorf("%w: OPRF key derivation failed", ErrInvalid)
	}
	return k.MarshalBinary()
}

// Evaluate is the server's step: it multiplies the client's blinded element
// by the account's key and returns the evaluated element. Both inputs are
// decoded strictly (exact size, canonical encoding, no zero key, no identity
// element); an error names the input that is wrong, never its value.
func Evaluate(key, blinded []byte) ([]byte, error) {
	k, err := decodeKey(key)
	if err != nil {
		return nil, err
	}
	b, err := decodeElement("blinded element", blinded)
	if err != nil {
		return nil, err
	}
	srv := oprf.NewServer(suite, k)
	ev, err := srv.Evaluate(&oprf.EvaluationRequest{Elements: []oprf.Blinded{b}})
	if err != nil || len(ev.Elements) != 1 {
		return nil, fmt.Errorf("%w: OPRF evaluation failed", ErrInvalid)
	}
	return ev.Elements[0].MarshalBinaryCompress()
}

// Blind is the client's first step: it blinds the passphrase with a fresh
// random scalar and returns the blinded element to send to the server and
// the state Finalize needs. The state is secret (it holds the blind and
// the passphrase): keep it in memory only and drop it after Finalize.
func Blind(passphrase []byte) (state, blinded []byte, err error) {
	if err := checkPassphrase(passphrase); err != nil {
		return nil, nil, err
	}
	fin, req, err := oprf.NewClient(suite).Blind([][]byte{passphrase})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the passphrase cannot be blinded", ErrInvalid)
	}
	return encodeState(fin.CopyBlinds()[0], passphrase, req)
}

// blindWith is Blind with a given blind scalar, for known-answer tests.
func blindWith(passphrase, blind []byte) (state, blinded []byte, err error) {
	if err := checkPassphrase(passphrase); err != nil {
		return nil, nil, err
	}
	r, err := decodeScalar("blind", blind)
	if err != nil {
		return nil, nil, err
	}
	_, req, err := oprf.NewClient(suite).DeterministicBlind([][]byte{passphrase}, []oprf.Blind{r})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the passphrase cannot be blinded", ErrInvalid)
	}
	return encodeState(r, passphrase, req)
}

// state = blind (32) || passphrase
func encodeState(r group.Scalar, passphrase []byte, req *oprf.EvaluationRequest) (state, blinded []byte, err error) {
	rb, err := r.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	blinded, err = req.Elements[0].MarshalBinaryCompress()
	if err != nil {
		return nil, nil, err
	}
	return append(rb, passphrase...), blinded, nil
}

// Finalize is the client's last step: it unblinds the server's evaluated
// element and returns the OPRF output (OutputSize bytes), the input of
// NewKey and KeyFor. The output is secret. The evaluated element is
// decoded strictly; a server that answers with another key gives an output
// under which the backup does not open (ErrWrongPassphrase later), which
// the OPRF mode cannot tell apart from a wrong passphrase.
func Finalize(state, evaluated []byte) ([]byte, error) {
	if len(state) < OPRFKeySize+1 {
		return nil, fmt.Errorf("%w: the OPRF state is truncated", ErrInvalid)
	}
	r, err := decodeScalar("blind", state[:OPRFKeySize])
	if err != nil {
		return nil, err
	}
	passphrase := state[OPRFKeySize:]
	if err := checkPassphrase(passphrase); err != nil {
		return nil, err
	}
	ev, err := decodeElement("evaluated element", evaluated)
	if err != nil {
		return nil, err
	}
	c := oprf.NewClient(suite)
	fin, _, err := c.DeterministicBlind([][]byte{passphrase}, []oprf.Blind{r})
	if err != nil {
		return nil, fmt.Errorf("%w: the passphrase cannot be blinded", ErrInvalid)
	}
	out, err := c.Finalize(fin, &oprf.Evaluation{Elements: []oprf.Evaluated{ev}})
	if err != nil || len(out) != 1 || len(out[0]) != OutputSize {
		return nil, fmt.Errorf("%w: the OPRF evaluation cannot be finalized", ErrInvalid)
	}
	return out[0], nil
}

// decodeKey parses an account's OPRF key: 32 bytes, canonical, not zero.
func decodeKey(key []byte) (*oprf.PrivateKey, error) {
	if _, err := decodeScalar("OPRF key", key); err != nil {
		return nil, err
	}
	k := new(oprf.PrivateKey)
	if err := k.UnmarshalBinary(suite, key); err != nil {
		return nil, fmt.Errorf("%w: the OPRF key is not a valid scalar", ErrInvalid)
	}
	return k, nil
}

// decodeScalar parses a ristretto255 scalar: exactly 32 bytes, reduced
// (one encoding per value), not zero (a zero blind or key would map every
// passphrase to the same output).
func decodeScalar(what string, b []byte) (group.Scalar, error) {
	if len(b) != OPRFKeySize {
		return nil, fmt.Errorf("%w: the %s must be %d bytes, not %d", ErrInvalid, what, OPRFKeySize, len(b))
	}
	s := group.Ristretto255.NewScalar()
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: the %s is not a reduced ristretto255 scalar", ErrInvalid, what)
	}
	if s.IsZero() {
		return nil, fmt.Errorf("%w: the %s is zero", ErrInvalid, what)
	}
	return s, nil
}

// decodeElement parses a ristretto255 element: exactly 32 bytes, a valid
// and canonical encoding (RFC 9496 §4.3.1; circl's decoder refuses
// non-canonical ones, and re-encoding keeps the promise that no element has
// two wire forms should it change), not the identity (RFC 9497 §3.3: the identity would
// make the evaluation independent of the key and of the passphrase).
func decodeElement(what string, b []byte) (group.Element, error) {
	if len(b) != ElementSize {
		return nil, fmt.Errorf("%w: the %s must be %d bytes, not %d", ErrInvalid, what, ElementSize, len(b))
	}
	e := group.Ristretto255.NewElement()
	if err := e.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: the %s is not a ristretto255 element", ErrInvalid, what)
	}
	again, err := e.MarshalBinaryCompress()
	if err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: the %s is not canonically encoded", ErrInvalid, what)
	}
	if e.IsIdentity() {
		return nil, fmt.Errorf("%w: the %s is the identity", ErrInvalid, what)
	}
	return e, nil
}

func checkPassphrase(p []byte) error {
	if len(p) == 0 {
		return fmt.Errorf("%w: the passphrase is empty", ErrInvalid)
	}
	if len(p) > MaxPassphrase {
		return fmt.Errorf("%w: the passphrase is longer than %d bytes", ErrInvalid, MaxPassphrase)
	}
	return nil
}

// checkUsername applies SPEC §6's rule: 1..64 bytes of UTF-8.
func checkUsername(u string) error {
	if len(u) == 0 || len(u) > MaxUsername || !utf8.ValidString(u) {
		return fmt.Errorf("%w: the username must be 1 to %d bytes of UTF-8", ErrInvalid, MaxUsername)
	}
	return nil
}

// b8 appends a byte string with a one-byte length (callers bound it).
func b8(dst, b []byte) []byte {
	return append(append(dst, byte(len(b))), b...)
}
