package backup

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/testkit"
)

// rfcVectors is RFC 9497 Appendix A.1.1 (ristretto255-SHA512, OPRF mode).
type rfcVectors struct {
	Comment string      `json:"comment"`
	Seed    testkit.Hex `json:"seed"`
	KeyInfo testkit.Hex `json:"key_info"`
	SkSm    testkit.Hex `json:"skSm"`
	Vectors []struct {
		Input      testkit.Hex `json:"input"`
		Blind      testkit.Hex `json:"blind"`
		Blinded    testkit.Hex `json:"blinded_element"`
		Evaluation testkit.Hex `json:"evaluation_element"`
		Output     testkit.Hex `json:"output"`
	} `json:"vectors"`
}

// The wrapper reproduces every RFC 9497 test vector of the suite: the key
// DeriveKeyPair gives, the blinded element, the server's evaluation and the
// client's output.
func TestRFC9497Vectors(t *testing.T) {
	var v rfcVectors
	testkit.ReadJSON(t, "testdata/rfc9497.json", &v)
	if len(v.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	key, err := deriveKeyPair(v.Seed, v.KeyInfo)
	if err != nil || !bytes.Equal(key, v.SkSm) {
		t.Fatalf("DeriveKeyPair = %x, %v; want %x", key, err, v.SkSm)
	}
	for i, c := range v.Vectors {
		state, blinded, err := blindWith(c.Input, c.Blind)
		if err != nil || !bytes.Equal(blinded, c.Blinded) {
			t.Fatalf("vector %d: blinded %x, %v; want %x", i, blinded, err, c.Blinded)
		}
		ev, err := Evaluate(key, blinded)
		if err != nil || !bytes.Equal(ev, c.Evaluation) {
			t.Fatalf("vector %d: evaluation %x, %v; want %x", i, ev, err, c.Evaluation)
		}
		out, err := Finalize(state, ev)
		if err != nil || !bytes.Equal(out, c.Output) {
			t.Fatalf("vector %d: output %x, %v; want %x", i, out, err, c.Output)
		}
	}
}

func mustServerKey(t testing.TB, secret []byte, user string) []byte {
	t.Helper()
	k, err := ServerKey(secret, user)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func oprfOutput(t testing.TB, key, passphrase []byte) []byte {
	t.Helper()
	state, blinded, err := Blind(passphrase)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Evaluate(key, blinded)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Finalize(state, ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The output depends on the passphrase and on the account's key only: a
// fresh blind each time gives another blinded element (the server cannot
// link two attempts) but the same output; another passphrase, account or
// server secret gives another output.
func TestOPRFOutputDependsOnPassphraseAndAccount(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, SecretSize)
	alice := mustServerKey(t, secret, "alice")
	_, b1, _ := Blind([]byte("correct horse"))
	_, b2, _ := Blind([]byte("correct horse"))
	if bytes.Equal(b1, b2) {
		t.Fatal("two blinds of one passphrase gave the same element")
	}
	o1 := oprfOutput(t, alice, []byte("correct horse"))
	if o2 := oprfOutput(t, alice, []byte("correct horse")); !bytes.Equal(o1, o2) {
		t.Fatal("same passphrase and key, different outputs")
	}
	others := [][]byte{
		oprfOutput(t, alice, []byte("correct horsf")),
		oprfOutput(t, mustServerKey(t, secret, "bob"), []byte("correct horse")),
		oprfOutput(t, mustServerKey(t, bytes.Repeat([]byte{8}, SecretSize), "alice"), []byte("correct horse")),
	}
	for i, o := range others {
		if bytes.Equal(o, o1) {
			t.Fatalf("case %d: output does not depend on the input", i)
		}
	}
}

// ServerKey's info binds the username with a 0x00 after the label, and
// the key equals RFC 9497 DeriveKeyPair with that info.
func TestServerKeyInfo(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, SecretSize)
	k := mustServerKey(t, secret, "alice")
	want, _ := deriveKeyPair(secret, []byte("hush/v2 backup oprf\x00alice"))
	if !bytes.Equal(k, want) {
		t.Fatalf("ServerKey %x, want %x", k, want)
	}
	for _, bad := range []struct {
		secret []byte
		user   string
	}{
		{secret[:31], "alice"}, {append(secret, 0), "alice"}, {secret, ""},
		{secret, strings.Repeat("a", 65)}, {secret, "\xff"},
	} {
		if _, err := ServerKey(bad.secret, bad.user); !errors.Is(err, ErrInvalid) {
			t.Fatalf("ServerKey(%d bytes, %q) = %v", len(bad.secret), bad.user, err)
		}
	}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// badElements are encodings a strict ristretto255 decoder refuses (RFC
// 9496 §A.2 and the identity), each with the word its error must name.
var badElements = []struct {
	hex, why string
}{
	{"0000000000000000000000000000000000000000000000000000000000000000", "identity"},
	{"00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "not a ristretto255 element"},
	{"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "not a ristretto255 element"},
	{"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "not a ristretto255 element"},
	{"0100000000000000000000000000000000000000000000000000000000000000", "not a ristretto255 element"},
	{"01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "not a ristretto255 element"},
	{"ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20", "not a ristretto255 element"},
	{"26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371", "not a ristretto255 element"},
	{"609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e41280", "32 bytes"},
	{"609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c00", "32 bytes"},
	{"", "32 bytes"},
}

// Evaluate refuses, with an error naming what is wrong, every blinded
// element that is not a canonical non-identity ristretto255 encoding of 32
// bytes, and every key that is not a reduced non-zero scalar.
func TestEvaluateRefusesBadInput(t *testing.T) {
	key := mustServerKey(t, bytes.Repeat([]byte{7}, SecretSize), "alice")
	for _, c := range badElements {
		_, err := Evaluate(key, unhex(c.hex))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "blinded element") || !strings.Contains(err.Error(), c.why) {
			t.Errorf("Evaluate(%s) = %v; want an error naming %q", c.hex, err, c.why)
		}
	}
	_, good, _ := Blind([]byte("pw"))
	for _, k := range []struct {
		hex, why string
	}{
		{"0000000000000000000000000000000000000000000000000000000000000000", "zero"},
		// l, the group order: not reduced.
		{"edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010", "not a reduced"},
		{"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "not a reduced"},
		{"5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b", "32 bytes"},
	} {
		_, err := Evaluate(unhex(k.hex), good)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "OPRF key") || !strings.Contains(err.Error(), k.why) {
			t.Errorf("Evaluate(key %s) = %v; want an error naming %q", k.hex, err, k.why)
		}
	}
}

// A non-canonical encoding of a valid element is refused even where the
// underlying decoder would accept it: each element has one wire form.
func TestEvaluateRefusesNonCanonical(t *testing.T) {
	key := mustServerKey(t, bytes.Repeat([]byte{7}, SecretSize), "alice")
	_, good, _ := Blind([]byte("pw"))
	// Setting the top bit (never set in a canonical encoding).
	bad := bytes.Clone(good)
	bad[31] |= 0x80
	if _, err := Evaluate(key, bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("top bit set: %v", err)
	}
}

// Finalize refuses a state that is not a blind and a passphrase, and an
// evaluated element that a strict decoder refuses.
func TestFinalizeRefusesBadInput(t *testing.T) {
	key := mustServerKey(t, bytes.Repeat([]byte{7}, SecretSize), "alice")
	state, blinded, err := Blind([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Evaluate(key, blinded)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range badElements {
		_, err := Finalize(state, unhex(c.hex))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "evaluated element") {
			t.Errorf("Finalize(%s) = %v", c.hex, err)
		}
	}
	zeroBlind := append(make([]byte, 32), 'p', 'w')
	for i, s := range [][]byte{nil, state[:32], zeroBlind, append(bytes.Repeat([]byte{0xff}, 32), 'p'),
		append(bytes.Clone(state[:32]), make([]byte, MaxPassphrase+1)...)} {
		if _, err := Finalize(s, ev); !errors.Is(err, ErrInvalid) {
			t.Errorf("state %d: %v", i, err)
		}
	}
	if _, err := Finalize(state, ev); err != nil {
		t.Fatal(err)
	}
}

// Blind refuses an empty passphrase and one longer than MaxPassphrase
// (RFC 9497 frames inputs with a 16-bit length, so longer ones would
// collide).
func TestBlindRefusesBadPassphrase(t *testing.T) {
	for _, p := range [][]byte{nil, {}, make([]byte, MaxPassphrase+1)} {
		if _, _, err := Blind(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("Blind(%d bytes) = %v", len(p), err)
		}
	}
	if _, _, err := Blind(make([]byte, MaxPassphrase)); err != nil {
		t.Fatal(err)
	}
}
