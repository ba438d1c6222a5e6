package shamir

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/testkit"
)

func randomSecret(t testing.TB) []byte {
	t.Helper()
	s := make([]byte, SecretSize)
	rand.Read(s)
	return s
}

func mustSplit(t testing.TB, secret []byte, k, n int) (*Set, []Share) {
	t.Helper()
	set, shares, err := Split(secret, k, n, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return set, shares
}

// subsets calls f with every subset of {0..n-1} of size k, as indices.
func subsets(n, k int, f func(idx []int)) {
	idx := make([]int, 0, k)
	var rec func(start int)
	rec = func(start int) {
		if len(idx) == k {
			f(idx)
			return
		}
		for i := start; i < n; i++ {
			idx = append(idx, i)
			rec(i + 1)
			idx = idx[:len(idx)-1]
		}
	}
	rec(0)
}

func pick(shares []Share, idx []int) []Share {
	out := make([]Share, len(idx))
	for i, j := range idx {
		out[i] = shares[j]
	}
	return out
}

// Every K-subset of the shares, for every 2 <= K <= N <= 6 and a fresh
// random secret each time, restores the secret; so do all N shares (more
// than K) in reverse order.
func TestEveryKSubsetCombines(t *testing.T) {
	for n := 2; n <= 6; n++ {
		for k := 2; k <= n; k++ {
			secret := randomSecret(t)
			set, shares := mustSplit(t, secret, k, n)
			subsets(n, k, func(idx []int) {
				got, err := Combine(set, pick(shares, idx))
				if err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("K=%d N=%d shares %v: %x, %v", k, n, idx, got, err)
				}
			})
			rev := make([]Share, n)
			for i := range shares {
				rev[n-1-i] = shares[i]
			}
			if got, err := Combine(set, rev); err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("K=%d N=%d all shares: %x, %v", k, n, got, err)
			}
		}
	}
}

// The largest set works: 255 shares, any K of them (here the last K).
func TestLargestSet(t *testing.T) {
	secret := randomSecret(t)
	set, shares := mustSplit(t, secret, 200, MaxShares)
	got, err := Combine(set, shares[MaxShares-200:])
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("%x, %v", got, err)
	}
}

// Fewer than K shares learn nothing: for a one-byte secret, every K-1 of
// the shares, and every candidate value of the secret byte, exactly one
// polynomial of degree < K (coefficients searched exhaustively, leading one
// zero included) goes through the candidate at 0 and the K-1 shares. So
// each candidate is equally likely given those shares. Also, K-1 shares
// refuse to combine and say one more is needed.
func TestFewerThanKLearnNothing(t *testing.T) {
	for _, c := range []struct{ k, n int }{{2, 3}, {2, 5}, {3, 4}} {
		secret := []byte{0}
		rand.Read(secret)
		coeffs := make([]byte, c.k-1)
		rand.Read(coeffs)
		ys := make([]byte, c.n)
		for i := range ys {
			evaluate(ys[i:i+1], secret, coeffs, byte(i+1))
		}
		subsets(c.n, c.k-1, func(idx []int) {
			var count [256]int
			cand := make([]byte, c.k-1)
			for {
				// For this coefficient vector and every candidate s, does
				// the polynomial go through every known share? (Evaluated
				// with the reference product, through a table.)
				for s := range 256 {
					ok := true
					for _, i := range idx {
						x, acc := byte(i+1), byte(0)
						for j := len(cand) - 1; j >= 0; j-- {
							acc = mulTable[acc][x] ^ cand[j]
						}
						if mulTable[acc][x]^byte(s) != ys[i] {
							ok = false
							break
						}
					}
					if ok {
						count[s]++
					}
				}
				if !next(cand) {
					break
				}
			}
			for s, n := range count {
				if n != 1 {
					t.Fatalf("K=%d N=%d shares %v: candidate %02x has %d polynomials, want 1", c.k, c.n, idx, s, n)
				}
			}
		})

		set, shares := mustSplit(t, randomSecret(t), c.k, c.n)
		_, err := Combine(set, shares[:c.k-1])
		var ce *CombineError
		if !errors.Is(err, ErrNotEnough) || !errors.As(err, &ce) || ce.More() != 1 || len(ce.Bad) != 0 {
			t.Fatalf("K-1 shares: %v", err)
		}
		if !strings.Contains(err.Error(), "ask 1 more holder for their share") {
			t.Fatalf("error does not say how many more: %q", err)
		}
	}
}

// mulTable[a][b] = refMul(a, b); tests only (a lookup table indexed by
// secret values is what the package itself must never use).
var mulTable = func() (t [256][256]byte) {
	for a := range 256 {
		for b := range 256 {
			t[a][b] = refMul(byte(a), byte(b))
		}
	}
	return t
}()

// next steps b through all byte strings of its length, as a counter;
// false after the last.
func next(b []byte) bool {
	for i := range b {
		b[i]++
		if b[i] != 0 {
			return true
		}
	}
	return false
}

// The error for too few shares counts what is missing.
func TestNotEnoughSaysHowManyMore(t *testing.T) {
	set, shares := mustSplit(t, randomSecret(t), 4, 6)
	for have := 0; have < 4; have++ {
		_, err := Combine(set, shares[:have])
		var ce *CombineError
		if !errors.As(err, &ce) || ce.More() != 4-have || ce.Valid != have {
			t.Fatalf("%d shares: %v", have, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error is more than one line: %q", err)
		}
	}
}

// Security regression: a share whose y (or any byte) was altered is
// refused by name, and Combine returns no secret, even when K valid
// shares are given with it.
func TestTamperedShareIsNamed(t *testing.T) {
	secret := randomSecret(t)
	set, shares := mustSplit(t, secret, 3, 5)
	testkit.FlipEachByte(t, shares[1].Bytes(), func(i int, m []byte) bool {
		bad, err := ParseShare(m)
		if err != nil {
			return true // the form is refused
		}
		in := []Share{shares[0], bad, shares[2], shares[3]}
		got, err := Combine(set, in)
		if got != nil {
			t.Fatalf("byte %d: combined %x", i, got)
		}
		var ce *CombineError
		if !errors.As(err, &ce) || len(ce.Bad) != 1 || ce.Bad[0].Index != bad.Index() {
			t.Fatalf("byte %d: %v", i, err)
		}
		if i >= ShareSize-SecretSize && (!errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "share 2 does not match")) {
			t.Fatalf("byte %d of y: %v", i, err)
		}
		return set.Verify(&bad) != nil
	})
}

// Security regression: shares of another Split never combine, and a share
// of an older setup is named as such; here both sets split the same secret
// for the same user, and the two x=1 shares have equal K and N.
func TestSharesOfAnotherSetRefused(t *testing.T) {
	secret := randomSecret(t)
	oldSet, old := mustSplit(t, secret, 2, 3)
	set, cur := mustSplit(t, secret, 2, 3)
	if oldSet.ID() == set.ID() {
		t.Fatal("two splits share a set id")
	}
	_, err := Combine(set, []Share{old[0], cur[1]})
	var ce *CombineError
	if !errors.As(err, &ce) || len(ce.Bad) != 1 || ce.Bad[0].Index != 1 || !errors.Is(err, ErrOtherSet) {
		t.Fatalf("old share with a current one: %v", err)
	}
	if !strings.Contains(err.Error(), "share 1 is from a different recovery setup") || ce.More() != 1 {
		t.Fatalf("message %q, more %d", err, ce.More())
	}
	if _, err := Combine(set, old); !errors.Is(err, ErrOtherSet) {
		t.Fatalf("all old shares: %v", err)
	}
	if err := set.Verify(&old[2]); !errors.Is(err, ErrOtherSet) {
		t.Fatalf("Verify: %v", err)
	}
}

// A share given twice is refused by name even though it verifies.
func TestDuplicateRefused(t *testing.T) {
	set, shares := mustSplit(t, randomSecret(t), 2, 3)
	_, err := Combine(set, []Share{shares[2], shares[0], shares[2]})
	var ce *CombineError
	if !errors.As(err, &ce) || len(ce.Bad) != 1 || ce.Bad[0].Index != 3 || !errors.Is(err, ErrDuplicate) || ce.Valid != 2 {
		t.Fatalf("%v", err)
	}
	if err.Error() != "recovery: share 3 was given more than once: give each share once" {
		t.Fatalf("message %q", err)
	}
}

// Verify checks K, N and x against the set, not only the set id and hash:
// a share of the same set id whose K, N or x differ (changed in memory,
// some of them past what the parser lets through) is refused, and the
// zero Share too.
func TestVerifyChecksParameters(t *testing.T) {
	set, shares := mustSplit(t, randomSecret(t), 3, 4)
	for name, mut := range map[string]func(s *Share){
		"K":          func(s *Share) { s.k = 2 },
		"N":          func(s *Share) { s.n = 5 },
		"x=0":        func(s *Share) { s.x = 0 },
		"x>N":        func(s *Share) { s.x, s.n = 5, 5 },
		"x>N only":   func(s *Share) { s.x = 5 }, // no parsed share is so; Verify must not index past the set
		"x=255":      func(s *Share) { s.x = 255 },
		"x of other": func(s *Share) { s.x = 2 },
	} {
		s := shares[0]
		mut(&s)
		if err := set.Verify(&s); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	var zero Share
	if _, err := Combine(set, []Share{zero, shares[1], shares[2]}); !errors.Is(err, ErrOtherSet) {
		t.Fatalf("zero share: %v", err)
	}
	if err := set.Verify(&shares[3]); err != nil {
		t.Fatal(err)
	}
}

// Split refuses what it cannot do, with one line saying what to choose.
func TestSplitRefuses(t *testing.T) {
	s := randomSecret(t)
	for _, c := range []struct {
		secret []byte
		k, n   int
		user   string
	}{
		{s[:31], 2, 3, "alice"}, {append(s, 0), 2, 3, "alice"},
		{s, 1, 3, "alice"}, {s, 4, 3, "alice"}, {s, 2, 256, "alice"}, {s, 0, 0, "alice"},
		{s, 2, 3, ""}, {s, 2, 3, strings.Repeat("a", 65)}, {s, 2, 3, "a\nb"}, {s, 2, 3, "\xff"},
	} {
		set, shares, err := Split(c.secret, c.k, c.n, c.user)
		if err == nil || set != nil || shares != nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("Split(%d bytes, %d, %d, %q) = %v", len(c.secret), c.k, c.n, c.user, err)
		}
	}
}

// Split leaves the caller's secret as it was, and Wipe zeroes a share's
// secret value (after which it no longer verifies).
func TestSecretUntouchedAndWipe(t *testing.T) {
	secret := randomSecret(t)
	keep := bytes.Clone(secret)
	set, shares := mustSplit(t, secret, 2, 2)
	if !bytes.Equal(secret, keep) {
		t.Fatal("Split changed the secret")
	}
	shares[0].Wipe()
	if shares[0].y != [SecretSize]byte{} || set.Verify(&shares[0]) == nil {
		t.Fatal("wiped share still holds its value")
	}
}

// The set round-trips through its signed encoding under the user's
// identity key, and a set signed by another key, or altered, is refused
// before it is decoded.
func TestSignedSet(t *testing.T) {
	id, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := identity.GenerateIdentity()
	secret := randomSecret(t)
	set, shares := mustSplit(t, secret, 2, 3)
	b, sig := set.Bytes(), set.Sign(id.Sign)
	got, err := ParseSignedSet(b, sig, id.Public().Verify)
	if err != nil || !bytes.Equal(got.Bytes(), b) || got.Username() != "alice" || got.Threshold() != 2 || got.Total() != 3 || got.ID() != shares[0].SetID() {
		t.Fatalf("%v", err)
	}
	if s, err := Combine(got, shares[1:]); err != nil || !bytes.Equal(s, secret) {
		t.Fatalf("combine with the parsed set: %v", err)
	}
	if _, err := ParseSignedSet(b, set.Sign(other.Sign), id.Public().Verify); !errors.Is(err, ErrSetSignature) {
		t.Fatalf("other signer: %v", err)
	}
	testkit.FlipEachByte(t, b, func(_ int, m []byte) bool {
		_, err := ParseSignedSet(m, sig, id.Public().Verify)
		return errors.Is(err, ErrSetSignature)
	})
}

// The decoders refuse every truncation and any trailing byte, a wrong
// version, and out-of-range K, N and x, each with a one-line error that
// names the field and not the input.
func TestStrictDecoding(t *testing.T) {
	set, shares := mustSplit(t, randomSecret(t), 2, 3)
	sb, setb := shares[2].Bytes(), set.Bytes()
	for i := range sb {
		if _, err := ParseShare(sb[:i]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("share cut at %d: %v", i, err)
		}
	}
	for i := range setb {
		if _, err := ParseSet(setb[:i]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("set cut at %d: %v", i, err)
		}
	}
	if _, err := ParseShare(append(bytes.Clone(sb), 0)); !errors.Is(err, ErrTrailing) {
		t.Fatal(err)
	}
	if _, err := ParseSet(append(bytes.Clone(setb), 0)); !errors.Is(err, ErrTrailing) {
		t.Fatal(err)
	}
	const kAt = 1 + SetIDSize
	setKAt := 2 + len("alice") + SetIDSize
	for _, c := range []struct {
		name   string
		at     int
		val    byte
		want   error
		onSet  bool
		expect string
	}{
		{"share version", 0, 2, ErrVersion, false, "version"},
		{"share K=1", kAt, 1, ErrMalformed, false, "K"},
		{"share K>N", kAt, 4, ErrMalformed, false, "K"},
		{"share N<K", kAt + 1, 1, ErrMalformed, false, "K"},
		{"share x=0", kAt + 2, 0, ErrMalformed, false, "x"},
		{"share x>N", kAt + 2, 4, ErrMalformed, false, "x"},
		{"set version", 0, 0, ErrVersion, true, "version"},
		{"set K=1", setKAt, 1, ErrMalformed, true, "K"},
		{"set K>N", setKAt, 4, ErrMalformed, true, "K"},
		{"set username", 2, '\n', ErrMalformed, true, "username"},
		{"set username length 0", 1, 0, ErrMalformed, true, "username"},
	} {
		b := bytes.Clone(sb)
		parse := func(b []byte) error { _, err := ParseShare(b); return err }
		if c.onSet {
			b = bytes.Clone(setb)
			parse = func(b []byte) error { _, err := ParseSet(b); return err }
		}
		b[c.at] = c.val
		err := parse(b)
		var de *DecodeError
		if !errors.Is(err, c.want) || !errors.As(err, &de) || de.Field != c.expect || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// Split draws fresh randomness: two splits of one secret share no share
// value (with overwhelming probability) and no set id.
func TestSplitIsRandomized(t *testing.T) {
	secret := randomSecret(t)
	a, as := mustSplit(t, secret, 2, 2)
	b, bs := mustSplit(t, secret, 2, 2)
	if a.ID() == b.ID() || as[0].y == bs[0].y {
		t.Fatal("two splits drew the same randomness")
	}
}
