package shamir

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/testkit"
)

const vectorsPath = "testdata/vectors.json"

type hexBytes = testkit.Hex

// vector is one Split with fixed randomness, and everything derived from it.
type vector struct {
	Comment      string        `json:"comment"`
	Secret       hexBytes      `json:"secret"`
	Username     string        `json:"username"`
	K            int           `json:"k"`
	N            int           `json:"n"`
	SetID        hexBytes      `json:"set_id"`
	Coefficients []hexBytes    `json:"coefficients"` // c_1 .. c_{K-1}, byte b of c_j for secret byte b
	Shares       []vectorShare `json:"shares"`
	Set          hexBytes      `json:"set"`
	IdentitySeed hexBytes      `json:"identity_seed"` // Ed25519 seed of the user's identity key
	IdentityKey  hexBytes      `json:"identity_key"`
	SetSignature hexBytes      `json:"set_signature"` // over "hush/v2 recovery set" || 0x00 || set
}

type vectorShare struct {
	X          int      `json:"x"`
	Y          hexBytes `json:"y"`
	Share      hexBytes `json:"share"`
	Commitment hexBytes `json:"commitment"`
}

// seq returns n bytes start, start+step, ... (mod 256).
func seq(n int, start, step byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)*step
	}
	return b
}

func generateVector(t *testing.T) *vector {
	v := &vector{
		Comment:  "hush social recovery shares (doc/SPEC.md §15); regenerate with: go test ./internal/shamir -run TestVectors -update",
		Secret:   seq(SecretSize, 0x00, 0x01),
		Username: "alice", K: 3, N: 5,
		SetID:        seq(SetIDSize, 0xa0, 0x01),
		Coefficients: []hexBytes{seq(SecretSize, 0x53, 0x07), seq(SecretSize, 0xff, 0xfb)},
		IdentitySeed: seq(32, 0x42, 0x00),
	}
	// The last secret byte gets a zero leading coefficient, so its
	// polynomial has degree 1 < K-1: the leading coefficient may be zero.
	v.Coefficients[1][SecretSize-1] = 0
	var id [SetIDSize]byte
	copy(id[:], v.SetID)
	set, shares := split(v.Secret, v.K, v.N, v.Username, id, append(bytes.Clone(v.Coefficients[0]), v.Coefficients[1]...))
	for i := range shares {
		s := &shares[i]
		v.Shares = append(v.Shares, vectorShare{X: s.Index(), Y: bytes.Clone(s.y[:]), Share: s.Bytes(), Commitment: bytes.Clone(set.commitments[i][:])})
	}
	v.Set = set.Bytes()
	priv, err := identity.NewIdentityPrivateKey(v.IdentitySeed)
	if err != nil {
		t.Fatal(err)
	}
	v.IdentityKey, v.SetSignature = priv.Public().Bytes(), set.Sign(priv.Sign)
	return v
}

// The stored vectors are what split derives from the stored randomness
// (byte for byte), and they check out independently of the code that made
// them: each y is the polynomial evaluated with the reference product, each
// commitment is SHA-256 of label, zero and share, the set verifies under the
// stored key, and every 3 of the 5 stored shares combine to the secret.
func TestVectors(t *testing.T) {
	testkit.Golden(t, vectorsPath, generateVector(t))
	var v vector
	testkit.ReadJSON(t, vectorsPath, &v)
	key, err := identity.NewIdentityKey(v.IdentityKey)
	if err != nil {
		t.Fatal(err)
	}
	set, err := ParseSignedSet(v.Set, v.SetSignature, key.Verify)
	if err != nil {
		t.Fatal(err)
	}
	if set.Username() != v.Username || set.Threshold() != v.K || set.Total() != v.N {
		t.Fatalf("set %s %d of %d", set.Username(), set.Threshold(), set.Total())
	}
	shares := make([]Share, v.N)
	for i, vs := range v.Shares {
		x := byte(vs.X)
		for b := range SecretSize {
			// s + c_1·x + c_2·x², with the reference product.
			want := v.Secret[b] ^ refMul(v.Coefficients[0][b], x) ^ refMul(v.Coefficients[1][b], refMul(x, x))
			if vs.Y[b] != want {
				t.Fatalf("share %d byte %d: y %02x, want %02x", vs.X, b, vs.Y[b], want)
			}
		}
		h := sha256.Sum256(append([]byte(CommitLabel+"\x00"), vs.Share...))
		if !bytes.Equal(h[:], vs.Commitment) || !bytes.Equal(vs.Share[1+SetIDSize+3:], vs.Y) {
			t.Fatalf("share %d: commitment or y does not match the share", vs.X)
		}
		if shares[i], err = ParseShare(vs.Share); err != nil {
			t.Fatal(err)
		}
	}
	subsets(v.N, v.K, func(idx []int) {
		got, err := Combine(set, pick(shares, idx))
		if err != nil || !bytes.Equal(got, v.Secret) {
			t.Fatalf("shares %v: %x, %v", idx, got, err)
		}
	})
}
