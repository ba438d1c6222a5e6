// Package shamir splits a 32-byte recovery secret into N shares, any K of
// which restore it (Shamir's threshold scheme over GF(2^8), byte-wise), for
// hush's social recovery (doc/SPEC.md §15).
//
// What it promises:
//
//   - Fewer than K shares say nothing about the secret: for every value of
//     the secret there is exactly one polynomial consistent with them.
//     With the set's commitments that becomes computational (K-1 shares and
//     the set let one test a guess of the whole secret), which is why
//     secrets must be SecretSize uniformly random bytes, never a password.
//   - Combine never silently returns a wrong secret: every share is checked
//     against its commitment in the set first, and each share refused is
//     named by its index. Shares of another Split (another set id: an older
//     setup, or another user's) never combine.
//
// # Constant time
//
// What runs in constant time, and what does not:
//
//   - Arithmetic on secret bytes — the secret, the polynomial coefficients,
//     the share values y — is done only with XOR and with the field
//     product and inverse, which execute the same instructions and memory
//     accesses whatever their operands: no table is indexed by a value (no
//     log/exp tables), no branch or loop bound depends on an operand bit (a
//     product is eight rounds of shift and masked XOR; an inverse is the
//     fixed addition chain for a^254). Set.Verify compares commitments with
//     crypto/subtle.
//   - Share x-coordinates, K, N, the set id and the secret's length are
//     public (written in the clear in every share and in the set): Split,
//     Verify and Combine loop and branch on them freely (the range and
//     duplicate checks, the choice of shares). The Lagrange coefficients
//     depend on x only; they are computed with the same constant-time
//     product and inverse all the same.
//   - Whether a share is refused, and which, is not secret and not hidden:
//     checks stop at the first field that differs. SHA-256 is the standard
//     library's.
//   - Go gives no guarantee about the machine code its compiler emits; the
//     product is written so that its natural translation has no
//     data-dependent branch, and that is what gc emits today on amd64 and
//     arm64 (checked with -gcflags=-S when this was written).
//
// The set carries the commitments and must be signed by the user's
// identity key (Set.Sign, ParseSignedSet) so that whoever holds shares
// cannot forge a set to go with altered ones.
//
// The package is pure: no network, disk or clock; randomness from
// crypto/rand. Values are safe for concurrent reads; Share.Wipe writes.
package shamir

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Spec constants (doc/SPEC.md §15).
const (
	// SecretSize is the size of the secret Split takes and Combine returns.
	SecretSize = 32
	// SetIDSize is the size of the random id of one Split.
	SetIDSize = 16
	// CommitmentSize is the size of one share's commitment (SHA-256).
	CommitmentSize = 32
	// ShareSize is the size of an encoded share.
	ShareSize = 1 + SetIDSize + 1 + 1 + 1 + SecretSize
	// MinThreshold is the smallest K; with K = 1 every share would be the
	// secret.
	MinThreshold = 2
	// MaxShares is the largest N: x-coordinates are the nonzero bytes.
	MaxShares = 255
	// MaxUsername is the longest username a set names, in bytes.
	MaxUsername = 64

	// CommitLabel prefixes (with a zero byte) every share hashed into its
	// commitment.
	CommitLabel = "hush/v2 recovery share"
	// SignLabel is the identity-key signature label of a set.
	SignLabel = "hush/v2 recovery set"

	version = 0x01
)

// Split splits secret (SecretSize bytes, uniformly random) into n shares,
// any k of which restore it, 2 <= k <= n <= 255, for the user username.
// It returns the set (to be signed with Set.Sign and kept with the
// shares) and the shares, share i at index i-1 with x = i. The set id and
// the polynomial coefficients come from crypto/rand; the coefficients are
// wiped before Split returns. The caller wipes the shares (Share.Wipe)
// once they are handed out.
func Split(secret []byte, k, n int, username string) (*Set, []Share, error) {
	if err := checkSplit(secret, k, n, username); err != nil {
		return nil, nil, err
	}
	var id [SetIDSize]byte
	rand.Read(id[:])
	coeffs := make([]byte, (k-1)*SecretSize)
	rand.Read(coeffs)
	defer clear(coeffs)
	set, shares := split(secret, k, n, username, id, coeffs)
	return set, shares, nil
}

func checkSplit(secret []byte, k, n int, username string) error {
	switch {
	case len(secret) != SecretSize:
		return fmt.Errorf("recovery setup: the secret is %d bytes, want %d", len(secret), SecretSize)
	case k < MinThreshold || n > MaxShares || k > n:
		return fmt.Errorf("recovery setup: %d of %d shares is not possible: choose 2 <= K <= N <= %d", k, n, MaxShares)
	case !validUsername(username):
		return fmt.Errorf("recovery setup: the username must be 1 to %d bytes of text", MaxUsername)
	}
	return nil
}

func validUsername(u string) bool {
	if len(u) == 0 || len(u) > MaxUsername || !utf8.ValidString(u) {
		return false
	}
	for _, r := range u {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// split is Split with its randomness given: the set id, and coeffs, the
// (k-1)·SecretSize coefficients, coefficient j (1..k-1) of secret byte b at
// coeffs[(j-1)·SecretSize+b]. The known-answer vectors go through it.
func split(secret []byte, k, n int, username string, id [SetIDSize]byte, coeffs []byte) (*Set, []Share) {
	shares := make([]Share, n)
	set := &Set{username: username, id: id, k: k, commitments: make([][CommitmentSize]byte, n)}
	for i := range shares {
		s := &shares[i]
		s.id, s.k, s.n, s.x = id, uint8(k), uint8(n), uint8(i+1)
		evaluate(s.y[:], secret, coeffs, s.x)
		set.commitments[i] = s.commitment()
	}
	return set, shares
}

// evaluate writes into y, for each byte b of secret, the polynomial
// secret[b] + c_1·x + ... + c_{k-1}·x^{k-1} at x (Horner's rule), where
// c_j = coeffs[(j-1)·len(secret)+b].
func evaluate(y, secret, coeffs []byte, x byte) {
	m := len(secret)
	for b := range m {
		var acc byte
		for j := len(coeffs)/m - 1; j >= 0; j-- {
			acc = gfMul(acc, x) ^ coeffs[j*m+b]
		}
		y[b] = gfMul(acc, x) ^ secret[b]
	}
}

// Combine restores the secret from K distinct shares of set. It first checks
// every share against the set (Set.Verify) and refuses, with a
// *CombineError naming each share it could not use by its index, if any
// share is of another set, altered, or given twice, or if fewer than K
// remain (the error then says how many more are needed). It never combines
// a share that does not match its commitment. When more than K valid shares
// are given, the first K are used.
//
// set must come from Split or ParseSignedSet (its signature checked).
func Combine(set *Set, shares []Share) ([]byte, error) {
	if set == nil {
		return nil, errors.New("recovery: no recovery set was given: fetch the signed set first")
	}
	var bad []*ShareError
	var seen [MaxShares + 1]bool // by x, which is public
	use := make([]*Share, 0, set.k)
	valid := 0
	for i := range shares {
		s := &shares[i]
		if err := set.Verify(s); err != nil {
			var se *ShareError
			if !errors.As(err, &se) {
				se = &ShareError{Index: int(s.x), Err: err}
			}
			bad = append(bad, se)
			continue
		}
		if seen[s.x] {
			bad = append(bad, &ShareError{Index: int(s.x), Err: ErrDuplicate})
			continue
		}
		seen[s.x] = true
		valid++
		if len(use) < set.k {
			use = append(use, s)
		}
	}
	if len(bad) > 0 || valid < set.k {
		return nil, &CombineError{Bad: bad, Valid: valid, Threshold: set.k}
	}
	return interpolate(use), nil
}

// interpolate returns p(0) for the polynomial through the shares' points
// (Lagrange): Σ y_i · Π_{j≠i} x_j / (x_j - x_i). The x are public and
// distinct.
func interpolate(shares []*Share) []byte {
	out := make([]byte, SecretSize)
	for i, si := range shares {
		num, den := byte(1), byte(1)
		for j, sj := range shares {
			if i != j {
				num = gfMul(num, sj.x)
				den = gfMul(den, sj.x^si.x)
			}
		}
		l := gfMul(num, gfInv(den))
		for b := range out {
			out[b] ^= gfMul(l, si.y[b])
		}
	}
	return out
}

// Verify checks that s belongs to set: same set id, K and N, x in 1..N,
// and the share hashes to the commitment the set holds for x. The error is
// a *ShareError naming the share's index.
func (set *Set) Verify(s *Share) error {
	fail := func(err error) error { return &ShareError{Index: int(s.x), Err: err} }
	switch {
	case s.id != set.id:
		return fail(ErrOtherSet)
	case int(s.k) != set.k || int(s.n) != len(set.commitments) || s.x == 0 || int(s.x) > len(set.commitments):
		return fail(ErrMismatch)
	}
	c := s.commitment()
	if subtle.ConstantTimeCompare(c[:], set.commitments[s.x-1][:]) != 1 {
		return fail(ErrMismatch)
	}
	return nil
}
