package envelope

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/wire"
)

var (
	alice = Address{User: "alice", Device: 1}
	bob   = Address{User: "bob", Device: 7}
	carol = Address{User: "carol", Device: 2}
)

func newKey(tb testing.TB) hpke.PrivateKey {
	tb.Helper()
	k, err := hpke.MLKEM768X25519().GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// testContent returns a Content from alice to to with an n-byte payload.
func testContent(to Address, n int) *Content {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return &Content{
		Sender:    alice,
		Recipient: to,
		MessageID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Timestamp: 1767225600123,
		Type:      1,
		Payload:   p,
	}
}

func equalContent(a, b *Content) bool {
	return a.Sender == b.Sender && a.Recipient == b.Recipient && a.MessageID == b.MessageID &&
		a.Timestamp == b.Timestamp && a.Type == b.Type && bytes.Equal(a.Payload, b.Payload)
}

// encodedLen is the unpadded length of c's encoding.
func encodedLen(c *Content) int {
	return 1 + 2*(1+4) + len(c.Sender.User) + len(c.Recipient.User) + 16 + 8 + 1 + 4 + len(c.Payload)
}

// wireField returns the field and sentinel of a *wire.Error, failing the
// test if err is not one.
func wireField(t *testing.T, err error) (field string, sentinel error) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v is not a *wire.Error", err)
	}
	return we.Field, we.Err
}

func TestPaddedLen(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{-5, 256}, {0, 256}, {1, 256}, {256, 256}, {257, 512}, {512, 512}, {513, 1024},
		{4097, 8192}, {65535, 65536}, {65536, 65536}, {65537, 131072}, {131072, 131072},
		{131073, 196608}, {maxContentLen, 1<<20 + 64<<10},
		{int(^uint(0) >> 1), -1},
	} {
		if got := PaddedLen(tc.n); got != tc.want {
			t.Errorf("PaddedLen(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
	// Every result is a fixed point and at least n.
	for n := 0; n < 300000; n += 997 {
		p := PaddedLen(n)
		if p < n || PaddedLen(p) != p || !isBucket(p) {
			t.Fatalf("PaddedLen(%d) = %d is not a bucket covering n", n, p)
		}
	}
}

func TestSealOpenSizes(t *testing.T) {
	priv := newKey(t)
	base := encodedLen(testContent(bob, 0))
	var sizes []int
	for _, bucket := range []int{256, 512, 1024, 65536, 131072} {
		for _, d := range []int{-1, 0, 1} {
			if n := bucket - base + d; n >= 0 {
				sizes = append(sizes, n)
			}
		}
	}
	sizes = append(sizes, 0, 1, 100, 5000, MaxPayload-1, MaxPayload)
	for _, n := range sizes {
		c := testContent(bob, n)
		env, err := Seal(priv.PublicKey(), c)
		if err != nil {
			t.Fatalf("payload %d: Seal: %v", n, err)
		}
		if want := 1 + EncLen + PaddedLen(encodedLen(c)) + tagLen; len(env) != want {
			t.Errorf("payload %d: envelope is %d bytes, want %d", n, len(env), want)
		}
		if len(env) > MaxEnvelope {
			t.Errorf("payload %d: envelope of %d bytes exceeds MaxEnvelope", n, len(env))
		}
		got, err := Open(priv, bob, env)
		if err != nil {
			t.Fatalf("payload %d: Open: %v", n, err)
		}
		if !equalContent(got, c) {
			t.Errorf("payload %d: Open returned different content", n)
		}
	}
}

// The relay must learn only the bucket: different contents in one bucket
// give envelopes of equal length, and different buckets different lengths.
func TestEnvelopeLengthDependsOnlyOnBucket(t *testing.T) {
	priv := newKey(t)
	long := Address{User: "a-rather-long-user-name_0123456789", Device: 1 << 30}
	lengths := map[int]int{} // bucket -> envelope length
	for _, n := range []int{0, 40, 150, 200, 300, 700, 900, 70000, 100000} {
		for _, sender := range []Address{alice, long} {
			c := testContent(bob, n)
			c.Sender = sender
			env, err := Seal(priv.PublicKey(), c)
			if err != nil {
				t.Fatal(err)
			}
			bucket := PaddedLen(encodedLen(c))
			if l, ok := lengths[bucket]; ok && l != len(env) {
				t.Errorf("bucket %d: envelope lengths %d and %d", bucket, l, len(env))
			}
			lengths[bucket] = len(env)
		}
	}
	if len(lengths) < 4 {
		t.Fatalf("only %d buckets covered", len(lengths))
	}
	seen := map[int]bool{}
	for bucket, l := range lengths {
		if seen[l] {
			t.Errorf("bucket %d shares envelope length %d with another bucket", bucket, l)
		}
		seen[l] = true
	}
}

// Security regression: a peer re-sealing a message meant for someone else
// (or multi-recipient content) to this device must be refused.
func TestOpenRefusesWrongRecipient(t *testing.T) {
	priv := newKey(t)
	for _, to := range []Address{carol, {User: "bob", Device: 8}, {User: "bob2", Device: 7}} {
		env, err := Seal(priv.PublicKey(), testContent(to, 10))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(priv, bob, env); !errors.Is(err, ErrWrongRecipient) {
			t.Errorf("content for %v opened as bob: %v", to, err)
		}
	}
	// Content naming no recipient (multi form) inside a sealed envelope.
	pt, err := testContent(Address{}, 10).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	env, err := sealPadded(priv.PublicKey(), pt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(priv, bob, env); !errors.Is(err, ErrWrongRecipient) {
		t.Errorf("recipient-less content in a sealed envelope: %v", err)
	}
	if _, err := Open(priv, Address{}, env); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open with a zero self address: %v", err)
	}
	if _, err := Seal(priv.PublicKey(), testContent(Address{}, 10)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Seal of recipient-less content: %v", err)
	}
}

func TestOpenRefusesWrongKey(t *testing.T) {
	priv, other := newKey(t), newKey(t)
	env, err := Seal(priv.PublicKey(), testContent(bob, 10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(other, bob, env); !errors.Is(err, ErrAuth) {
		t.Errorf("opened with another key: %v", err)
	}
}

func TestOpenDetectsTamperingEveryByte(t *testing.T) {
	priv := newKey(t)
	env, err := Seal(priv.PublicKey(), testContent(bob, 10))
	if err != nil {
		t.Fatal(err)
	}
	for i := range env {
		bad := bytes.Clone(env)
		bad[i] ^= 0xff
		c, err := Open(priv, bob, bad)
		if c != nil || err == nil {
			t.Fatalf("byte %d flipped: envelope still opened", i)
		}
		want := ErrAuth
		if i == 0 {
			want = wire.ErrVersion
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d flipped: error %v, want %v", i, err, want)
		}
	}
}

// A sender must not hide data in the padding: nonzero padding is refused
// even inside an authentic envelope.
func TestOpenRefusesNonzeroPadding(t *testing.T) {
	priv := newKey(t)
	pt, err := testContent(bob, 10).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pt[len(pt)-1] = 1
	env, err := sealPadded(priv.PublicKey(), pt)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(priv, bob, env)
	if field, sentinel := wireField(t, err); sentinel != wire.ErrMalformed || field != "padding" {
		t.Errorf("nonzero padding: %v", err)
	}
}

// Padding to a larger bucket than the content needs is a second encoding
// and a length channel: refused.
func TestOpenRefusesOverlongPadding(t *testing.T) {
	priv := newKey(t)
	pt, err := testContent(bob, 10).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pt = append(pt, make([]byte, len(pt))...) // 512 bytes, a bucket, but not this content's
	env, err := sealPadded(priv.PublicKey(), pt)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(priv, bob, env)
	if field, sentinel := wireField(t, err); sentinel != wire.ErrMalformed || field != "padding" {
		t.Errorf("overlong padding: %v", err)
	}
}

// Malformed framing is refused by length checks, before any decapsulation
// (the error is a decoding error, not ErrAuth).
func TestOpenRefusesFramingBeforeCrypto(t *testing.T) {
	priv := newKey(t)
	env, err := Seal(priv.PublicKey(), testContent(bob, 300)) // the 512 bucket
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []byte
		want error
	}{
		{"empty", nil, wire.ErrTruncated},
		{"enc cut", env[:500], wire.ErrTruncated},
		{"ciphertext below the smallest bucket", env[:1+EncLen+100], wire.ErrTruncated},
		{"one byte short", env[:len(env)-1], wire.ErrMalformed},
		{"one byte appended", append(bytes.Clone(env), 0), wire.ErrMalformed},
		{"oversized", make([]byte, MaxEnvelope+1), wire.ErrTooLarge},
	} {
		_, err := Open(priv, bob, tc.env)
		if _, sentinel := wireField(t, err); sentinel != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The size bound comes even before the key is looked at.
	if _, err := Open(nil, bob, make([]byte, MaxEnvelope+1)); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("oversized with nil key: %v", err)
	}
}

func TestKeyTypeRefused(t *testing.T) {
	x, err := hpke.DHKEM(ecdh.X25519()).GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good := newKey(t)
	env, _ := Seal(good.PublicKey(), testContent(bob, 1))
	m, _ := SealMulti([]hpke.PublicKey{good.PublicKey()}, testContent(Address{}, 1))
	d, _ := m.Delivery(0)
	checks := map[string]error{}
	_, checks["Seal"] = Seal(x.PublicKey(), testContent(bob, 1))
	_, checks["Seal nil"] = Seal(nil, testContent(bob, 1))
	_, checks["Open"] = Open(x, bob, env)
	_, checks["Open nil"] = Open(nil, bob, env)
	_, checks["SealMulti"] = SealMulti([]hpke.PublicKey{good.PublicKey(), x.PublicKey()}, testContent(Address{}, 1))
	_, checks["SealMulti nil"] = SealMulti([]hpke.PublicKey{nil}, testContent(Address{}, 1))
	_, checks["OpenDelivery"] = OpenDelivery(x, d)
	_, checks["OpenDelivery nil"] = OpenDelivery(nil, d)
	for name, err := range checks {
		if !errors.Is(err, ErrKeyType) {
			t.Errorf("%s with a non-X-Wing key: %v", name, err)
		}
	}
}

func BenchmarkSealOpen(b *testing.B) {
	priv := newKey(b)
	pub := priv.PublicKey()
	c := testContent(bob, 100)
	for b.Loop() {
		env, err := Seal(pub, c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Open(priv, bob, env); err != nil {
			b.Fatal(err)
		}
	}
}
