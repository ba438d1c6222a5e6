package shamir

import (
	"crypto/sha256"
	"encoding/hex"
)

// Share is one share of a secret: the evaluations at x of the byte-wise
// polynomials of one Split. Its y is secret (K of them restore the secret);
// the zero Share is of no set. Shares come from Split or ParseShare.
type Share struct {
	id   [SetIDSize]byte
	k, n uint8
	x    uint8
	y    [SecretSize]byte
}

// Index returns the share's x-coordinate, 1..N: the number by which errors
// and the user name it.
func (s *Share) Index() int { return int(s.x) }

// Threshold returns K, the number of shares that restore the secret.
func (s *Share) Threshold() int { return int(s.k) }

// Total returns N, the number of shares of its set.
func (s *Share) Total() int { return int(s.n) }

// SetID returns the hex id of the Split the share belongs to (public).
func (s *Share) SetID() string { return hex.EncodeToString(s.id[:]) }

// Wipe zeroes the share's secret value; the share is then of no use.
func (s *Share) Wipe() { clear(s.y[:]) }

// Bytes returns the encoding:
//
//	u8(0x01) || set_id (16) || u8(K) || u8(N) || u8(x) || y (32)
//
// It holds the secret y: store and send it only encrypted to its holder.
func (s *Share) Bytes() []byte {
	b := make([]byte, 0, ShareSize)
	b = append(b, version)
	b = append(b, s.id[:]...)
	b = append(b, s.k, s.n, s.x)
	return append(b, s.y[:]...)
}

// commitment is SHA-256("hush/v2 recovery share" || 0x00 || share).
func (s *Share) commitment() [CommitmentSize]byte {
	h := sha256.New()
	h.Write([]byte(CommitLabel))
	h.Write([]byte{0})
	enc := s.Bytes()
	h.Write(enc)
	clear(enc)
	var c [CommitmentSize]byte
	h.Sum(c[:0])
	return c
}

// ParseShare decodes a share strictly: exactly ShareSize bytes, version 1,
// 2 <= K <= N, 1 <= x <= N. It checks the form only; Set.Verify and Combine
// check that the share belongs to a set.
func ParseShare(b []byte) (Share, error) {
	var s Share
	switch {
	case len(b) < ShareSize:
		return s, decodeErr("share", "length", ErrTruncated)
	case len(b) > ShareSize:
		return s, decodeErr("share", "length", ErrTrailing)
	case b[0] != version:
		return s, decodeErr("share", "version", ErrVersion)
	}
	copy(s.id[:], b[1:])
	s.k, s.n, s.x = b[1+SetIDSize], b[2+SetIDSize], b[3+SetIDSize]
	switch {
	// K < 2 would make one share the secret; K > N a share set that never
	// combines.
	case s.k < MinThreshold || s.k > s.n:
		return Share{}, decodeErr("share", "K", ErrMalformed)
	// x = 0 would be the secret itself; x > N is not a share of the set.
	case s.x == 0 || s.x > s.n:
		return Share{}, decodeErr("share", "x", ErrMalformed)
	}
	copy(s.y[:], b[4+SetIDSize:])
	return s, nil
}

// Set is the public record of one Split: the user, the set id, K, and one
// commitment per share. Signed by the user's identity key, it lets whoever
// combines shares check each one before using it.
type Set struct {
	username    string
	id          [SetIDSize]byte
	k           int
	commitments [][CommitmentSize]byte // share x at x-1
}

// Username returns the user whose secret the set splits.
func (set *Set) Username() string { return set.username }

// Threshold returns K.
func (set *Set) Threshold() int { return set.k }

// Total returns N.
func (set *Set) Total() int { return len(set.commitments) }

// ID returns the hex set id (the same as Share.SetID of its shares).
func (set *Set) ID() string { return hex.EncodeToString(set.id[:]) }

// Bytes returns the encoding, the message the identity key signs:
//
//	u8(0x01) || bytes8(username) || set_id (16) || u8(K) || u8(N) || N × commitment (32)
func (set *Set) Bytes() []byte {
	b := make([]byte, 0, 1+1+len(set.username)+SetIDSize+2+len(set.commitments)*CommitmentSize)
	b = append(b, version, byte(len(set.username)))
	b = append(b, set.username...)
	b = append(b, set.id[:]...)
	b = append(b, byte(set.k), byte(len(set.commitments)))
	for _, c := range set.commitments {
		b = append(b, c[:]...)
	}
	return b
}

// Sign returns the signature of the set by sign (the user's identity key:
// pass (*identity.IdentityPrivateKey).Sign), over
// "hush/v2 recovery set" || 0x00 || set.Bytes().
func (set *Set) Sign(sign func(label string, msg []byte) []byte) []byte {
	return sign(SignLabel, set.Bytes())
}

// ParseSignedSet checks sig over b with verify (the user's identity key:
// pass (*identity.IdentityKey).Verify) and only then decodes the set
// (ParseSet). A set whose signature does not verify is refused whole.
func ParseSignedSet(b, sig []byte, verify func(label string, msg, sig []byte) error) (*Set, error) {
	if err := verify(SignLabel, b, sig); err != nil {
		return nil, ErrSetSignature
	}
	return ParseSet(b)
}

// ParseSet decodes a set strictly: version 1, a username of 1..64 bytes of
// text, 2 <= K <= N, exactly N commitments and nothing after them. It does
// not check a signature: use ParseSignedSet for a set from anywhere but
// this process.
func ParseSet(b []byte) (*Set, error) {
	const name = "set"
	if len(b) < 2 {
		return nil, decodeErr(name, "length", ErrTruncated)
	}
	if b[0] != version {
		return nil, decodeErr(name, "version", ErrVersion)
	}
	ul := int(b[1])
	// The fixed fields must be there before any is read.
	if len(b) < 2+ul+SetIDSize+2 {
		return nil, decodeErr(name, "length", ErrTruncated)
	}
	set := &Set{username: string(b[2 : 2+ul])}
	if !validUsername(set.username) {
		return nil, decodeErr(name, "username", ErrMalformed)
	}
	rest := b[2+ul:]
	copy(set.id[:], rest)
	k, n := int(rest[SetIDSize]), int(rest[SetIDSize+1])
	// K bounds as in a share; N = 0 would be a set no share belongs to.
	if k < MinThreshold || k > n {
		return nil, decodeErr(name, "K", ErrMalformed)
	}
	set.k = k
	rest = rest[SetIDSize+2:]
	// Exactly N commitments: a set has one encoding, so the signature
	// covers everything a verifier parsed.
	switch {
	case len(rest) < n*CommitmentSize:
		return nil, decodeErr(name, "commitments", ErrTruncated)
	case len(rest) > n*CommitmentSize:
		return nil, decodeErr(name, "commitments", ErrTrailing)
	}
	set.commitments = make([][CommitmentSize]byte, n)
	for i := range set.commitments {
		copy(set.commitments[i][:], rest[i*CommitmentSize:])
	}
	return set, nil
}
