package backup

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/testkit"
)

// cheapKeyFor stands in for Argon2id in format tests: like a derived key,
// it depends on the passphrase and on the header's salt and parameters,
// so a client that derives again for a changed header gets another key.
func cheapKeyFor(passphrase string, salt [SaltSize]byte, p Params) *Key {
	h := sha256.New()
	h.Write([]byte(passphrase))
	h.Write(salt[:])
	binary.Write(h, binary.BigEndian, p)
	k := &Key{salt: salt, params: p}
	h.Sum(k.key[:0])
	return k
}

func cheapNewKey(passphrase string) *Key {
	var salt [SaltSize]byte
	rand.Read(salt[:])
	return cheapKeyFor(passphrase, salt, DefaultParams)
}

func cheapKeyForBackup(b *Backup, passphrase string) *Key {
	return cheapKeyFor(passphrase, b.salt, b.params)
}

func recoverySecret() []byte {
	r := make([]byte, SecretSize)
	rand.Read(r)
	return r
}

func mustSeal(t *testing.T, user string, payload []byte, key *Key, r []byte) *Backup {
	t.Helper()
	b, err := Seal(user, payload, key, r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var payload = []byte("identity seed and contacts")

// The whole client and server flow with the real derivation: a backup
// sealed under a passphrase opens after a new OPRF round with the same
// passphrase, and a wrong passphrase, or a server that evaluates under
// another secret, gives ErrWrongPassphrase and nothing more.
func TestEndToEndWithPassphrase(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, SecretSize)
	k := mustServerKey(t, secret, "alice")
	key, err := NewKey(oprfOutput(t, k, []byte("hunter2 hunter2")), DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	sealed := mustSeal(t, "alice", payload, key, nil).Bytes()

	b, err := Parse(sealed)
	if err != nil {
		t.Fatal(err)
	}
	again, err := KeyFor(b, oprfOutput(t, k, []byte("hunter2 hunter2")))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenWithKey(b, "alice", again); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("OpenWithKey = %q, %v", got, err)
	}
	otherServer := mustServerKey(t, bytes.Repeat([]byte{2}, SecretSize), "alice")
	for name, out := range map[string][]byte{
		"wrong passphrase": oprfOutput(t, k, []byte("hunter3 hunter3")),
		"other server key": oprfOutput(t, otherServer, []byte("hunter2 hunter2")),
	} {
		wrong, err := KeyFor(b, out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenWithKey(b, "alice", wrong); err != ErrWrongPassphrase {
			t.Fatalf("%s: %v, want exactly ErrWrongPassphrase", name, err)
		}
	}
}

// Sealing and opening on both paths gives back the payload, also an empty
// one; Parse and Bytes round-trip.
func TestSealOpenRoundTrip(t *testing.T) {
	for _, p := range [][]byte{payload, {}, bytes.Repeat([]byte{9}, 100000)} {
		key, r := cheapNewKey("pw"), recoverySecret()
		b := mustSeal(t, "alice", p, key, r)
		parsed, err := Parse(b.Bytes())
		if err != nil || !bytes.Equal(parsed.Bytes(), b.Bytes()) {
			t.Fatalf("Parse round trip: %v", err)
		}
		if got, err := OpenWithKey(parsed, "alice", cheapKeyForBackup(parsed, "pw")); err != nil || !bytes.Equal(got, p) {
			t.Fatalf("OpenWithKey: %v", err)
		}
		if got, err := OpenWithRecovery(parsed, "alice", r); err != nil || !bytes.Equal(got, p) {
			t.Fatalf("OpenWithRecovery: %v", err)
		}
		if len(b.Bytes()) != len(b.Header())+nonceSize+len(p)+gcmTag {
			t.Fatalf("size %d for payload %d", len(b.Bytes()), len(p))
		}
	}
}

// Security regression: a backup sealed for alice does not open as bob's,
// on either path (a server cannot hand one account's backup to another).
func TestSwappedUsernameRefused(t *testing.T) {
	key, r := cheapNewKey("pw"), recoverySecret()
	b := mustSeal(t, "alice", payload, key, r)
	if _, err := OpenWithKey(b, "bob", key); err != ErrWrongPassphrase {
		t.Fatalf("OpenWithKey as bob: %v", err)
	}
	if _, err := OpenWithRecovery(b, "bob", r); err != ErrWrongRecoverySecret {
		t.Fatalf("OpenWithRecovery as bob: %v", err)
	}
	if _, err := Rewrap(b, "bob", key, cheapNewKey("pw2")); err != ErrWrongPassphrase {
		t.Fatalf("Rewrap as bob: %v", err)
	}
}

// A wrong recovery secret gives ErrWrongRecoverySecret; a backup without a
// recovery wrap gives ErrNoRecovery.
func TestRecoveryErrors(t *testing.T) {
	key := cheapNewKey("pw")
	b := mustSeal(t, "alice", payload, key, recoverySecret())
	if _, err := OpenWithRecovery(b, "alice", recoverySecret()); err != ErrWrongRecoverySecret {
		t.Fatal(err)
	}
	plain := mustSeal(t, "alice", payload, key, nil)
	if plain.HasRecovery() || !b.HasRecovery() {
		t.Fatal("HasRecovery")
	}
	if _, err := OpenWithRecovery(plain, "alice", recoverySecret()); err != ErrNoRecovery {
		t.Fatal(err)
	}
	if _, err := OpenWithRecovery(b, "alice", make([]byte, 31)); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}

// Security regression: every changed byte of the header or the payload is
// refused, on the passphrase path (with the key derived again for the
// changed header, as a client does) and on the recovery path (where the
// header tag covers the salt, the parameters and the passphrase wrap that
// path does not use).
func TestEveryFlippedByteRefused(t *testing.T) {
	r := recoverySecret()
	b := mustSeal(t, "alice", payload, cheapNewKey("pw"), r)
	testkit.FlipEachByte(t, b.Bytes(), func(i int, m []byte) bool {
		mb, err := Parse(m)
		if err != nil {
			return errors.Is(err, ErrMalformed)
		}
		_, err1 := OpenWithKey(mb, "alice", cheapKeyForBackup(mb, "pw"))
		_, err2 := OpenWithRecovery(mb, "alice", r)
		return err1 != nil && err2 != nil
	})
}

// Every truncation of a backup is refused, by Parse or by opening.
func TestTruncationRefused(t *testing.T) {
	r := recoverySecret()
	full := mustSeal(t, "alice", payload, cheapNewKey("pw"), r).Bytes()
	for n := range len(full) {
		mb, err := Parse(full[:n])
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("length %d: %v", n, err)
			}
			continue
		}
		if _, err := OpenWithKey(mb, "alice", cheapKeyForBackup(mb, "pw")); err == nil {
			t.Fatalf("length %d opened", n)
		}
		if _, err := OpenWithRecovery(mb, "alice", r); err == nil {
			t.Fatalf("length %d opened with recovery", n)
		}
	}
}

// withParams returns the encoding of b with its parameters replaced (as a
// hostile server could serve it).
func withParams(b *Backup, p Params) []byte {
	d := b.Bytes()
	binary.BigEndian.PutUint32(d[1+SaltSize:], p.Time)
	binary.BigEndian.PutUint32(d[1+SaltSize+4:], p.MemoryKiB)
	d[1+SaltSize+8] = p.Threads
	return d
}

// Security regression: a header with Argon2id parameters below MinParams
// (a server making guesses cheap for a later re-wrap) or above MaxParams (a
// server exhausting the client's memory) is refused when parsed, and no
// key is derived or sealed with them.
func TestWeakOrHugeParamsRefused(t *testing.T) {
	b := mustSeal(t, "alice", payload, cheapNewKey("pw"), nil)
	out := make([]byte, OutputSize)
	for _, p := range []Params{
		{Time: 2, MemoryKiB: 64 * 1024, Threads: 4},
		{Time: 1, MemoryKiB: 1 << 20, Threads: 4},
		{Time: 3, MemoryKiB: 64*1024 - 1, Threads: 4},
		{Time: 3, MemoryKiB: 8, Threads: 4},
		{Time: 3, MemoryKiB: 64 * 1024, Threads: 0},
		{Time: 17, MemoryKiB: 64 * 1024, Threads: 4},
		{Time: 3, MemoryKiB: 1<<20 + 1, Threads: 4},
		{Time: 3, MemoryKiB: 1<<32 - 1, Threads: 4},
		{Time: 3, MemoryKiB: 64 * 1024, Threads: 17},
		{Time: 1<<32 - 1, MemoryKiB: 64 * 1024, Threads: 4},
	} {
		_, err := Parse(withParams(b, p))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "Argon2id parameters") {
			t.Errorf("Parse with %+v: %v", p, err)
		}
		if _, err := NewKey(out, p); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewKey with %+v: %v", p, err)
		}
	}
	for _, p := range []Params{MinParams, MaxParams, DefaultParams} {
		if _, err := Parse(withParams(b, p)); err != nil {
			t.Errorf("Parse with %+v: %v", p, err)
		}
	}
}

// A key derived for another header (another salt or parameters) is a
// caller's mistake and is named as such, not taken for a wrong passphrase.
func TestKeyForAnotherHeader(t *testing.T) {
	b := mustSeal(t, "alice", payload, cheapNewKey("pw"), nil)
	if _, err := OpenWithKey(b, "alice", cheapNewKey("pw")); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if _, err := OpenWithKey(b, "alice", nil); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}

// Rewrap (`hush backup passwd`) keeps the payload bytes and the recovery
// wrap, writes the new key's salt and parameters, opens under the new
// passphrase and no longer under the old one, and still opens with the
// recovery secret.
func TestRewrapKeepsPayload(t *testing.T) {
	r := recoverySecret()
	oldKey := cheapNewKey("old")
	b := mustSeal(t, "alice", payload, oldKey, r)
	newKey := cheapKeyFor("new", [SaltSize]byte{1, 2, 3}, Params{Time: 4, MemoryKiB: 128 * 1024, Threads: 2})
	nb, err := Rewrap(b, "alice", oldKey, newKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(nb.Payload(), b.Payload()) || !bytes.Equal(nb.recoveryWrap, b.recoveryWrap) {
		t.Fatal("payload or recovery wrap changed")
	}
	parsed, err := Parse(nb.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Params() != newKey.Params() || parsed.salt != newKey.salt {
		t.Fatalf("header params %+v", parsed.Params())
	}
	if got, err := OpenWithKey(parsed, "alice", cheapKeyForBackup(parsed, "new")); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("new passphrase: %v", err)
	}
	if _, err := OpenWithKey(parsed, "alice", cheapKeyForBackup(parsed, "old")); err != ErrWrongPassphrase {
		t.Fatalf("old passphrase: %v", err)
	}
	if got, err := OpenWithRecovery(parsed, "alice", r); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("recovery: %v", err)
	}
	if _, err := Rewrap(b, "alice", cheapKeyForBackup(b, "wrong"), newKey); err != ErrWrongPassphrase {
		t.Fatalf("rewrap with a wrong passphrase: %v", err)
	}
}

// AddRecovery sets the recovery wrap, replaces an earlier one (whose
// secret then no longer opens), and keeps the payload and passphrase wrap.
func TestAddRecovery(t *testing.T) {
	key := cheapNewKey("pw")
	b := mustSeal(t, "alice", payload, key, nil)
	r1, r2 := recoverySecret(), recoverySecret()
	b1, err := AddRecovery(b, "alice", key, r1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenWithRecovery(b1, "alice", r1); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("r1: %v", err)
	}
	b2, err := AddRecovery(b1, "alice", key, r2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenWithRecovery(b2, "alice", r1); err != ErrWrongRecoverySecret {
		t.Fatalf("replaced r1: %v", err)
	}
	if got, err := OpenWithRecovery(b2, "alice", r2); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("r2: %v", err)
	}
	if !bytes.Equal(b2.Payload(), b.Payload()) || !bytes.Equal(b2.passWrap, b.passWrap) {
		t.Fatal("payload or passphrase wrap changed")
	}
	if got, err := OpenWithKey(b2, "alice", key); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("passphrase after AddRecovery: %v", err)
	}
	if _, err := AddRecovery(b, "alice", cheapKeyForBackup(b, "wrong"), r1); err != ErrWrongPassphrase {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

// Security regression: a server cannot roll back one wrap while keeping
// the rest of the header: an older recovery wrap (whose holders' shares a
// new setup meant to retire) next to the current passphrase wrap, or an
// older passphrase wrap (a passphrase changed after a leak) next to the
// current recovery wrap, fails the header tag on every path.
func TestRolledBackWrapRefused(t *testing.T) {
	key := cheapNewKey("pw")
	r1, r2 := recoverySecret(), recoverySecret()
	b1 := mustSeal(t, "alice", payload, key, r1)
	b2, err := AddRecovery(b1, "alice", key, r2)
	if err != nil {
		t.Fatal(err)
	}
	mixed := *b2
	mixed.recoveryWrap = b1.recoveryWrap
	m, err := Parse(mixed.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenWithRecovery(m, "alice", r1); err != ErrTampered {
		t.Fatalf("old recovery wrap with r1: %v", err)
	}
	if _, err := OpenWithKey(m, "alice", key); err != ErrTampered {
		t.Fatalf("old recovery wrap, passphrase path: %v", err)
	}

	newKey := cheapNewKey("new")
	b3, err := Rewrap(b2, "alice", key, newKey)
	if err != nil {
		t.Fatal(err)
	}
	mixed = *b3
	mixed.salt, mixed.params, mixed.passWrap = b2.salt, b2.params, b2.passWrap
	if _, err := OpenWithKey(&mixed, "alice", key); err != ErrTampered {
		t.Fatalf("old passphrase wrap: %v", err)
	}
}

// Security regression: the payload of another backup of the same account
// (another content key) does not open under this header.
func TestSwappedPayloadRefused(t *testing.T) {
	key := cheapNewKey("pw")
	a := mustSeal(t, "alice", payload, key, nil)
	b := mustSeal(t, "alice", []byte("other"), key, nil)
	swapped, err := Parse(append(a.Header(), b.Payload()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenWithKey(swapped, "alice", key); err != ErrTampered {
		t.Fatal(err)
	}
}

// Parse names what is malformed and refuses unknown versions and wraps of
// the wrong size.
func TestParseRefusesMalformed(t *testing.T) {
	good := mustSeal(t, "alice", payload, cheapNewKey("pw"), nil).Bytes()
	edit := func(f func(d []byte) []byte) []byte { return f(bytes.Clone(good)) }
	off := prefixSize // the passphrase wrap's length byte
	for name, c := range map[string]struct {
		data []byte
		why  string
	}{
		"empty":         {nil, "header is truncated"},
		"version 2":     {edit(func(d []byte) []byte { d[0] = 2; return d }), "unknown version"},
		"version 0":     {edit(func(d []byte) []byte { d[0] = 0; return d }), "unknown version"},
		"pass wrap 59":  {edit(func(d []byte) []byte { d[off] = 59; return d }), "passphrase wrap"},
		"pass wrap 0":   {edit(func(d []byte) []byte { d[off] = 0; return d }), "passphrase wrap"},
		"recovery 1":    {edit(func(d []byte) []byte { d[off+61] = 1; return d }), "recovery wrap"},
		"recovery 255":  {edit(func(d []byte) []byte { d[off+61] = 255; return d }), "recovery wrap"},
		"no tag":        {good[:off+62+31], "header tag"},
		"short payload": {good[:off+62+32+27], "payload is truncated"},
	} {
		_, err := Parse(c.data)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: %v, want %q", name, err, c.why)
		}
	}
}

// Errors that reach users are one line with a next step, without Go
// internals.
func TestErrorsAreOneLineWithNextStep(t *testing.T) {
	for _, err := range []error{ErrWrongPassphrase, ErrWrongRecoverySecret, ErrNoRecovery, ErrMalformed, ErrTampered} {
		s := err.Error()
		if strings.Contains(s, "\n") || !strings.Contains(s, ": ") || strings.Contains(s, "cipher") {
			t.Errorf("%q", s)
		}
	}
}

// Seal refuses bad usernames, a missing key and a recovery secret of the
// wrong size.
func TestSealRefusesBadArguments(t *testing.T) {
	key := cheapNewKey("pw")
	for _, c := range []struct {
		user string
		key  *Key
		r    []byte
	}{
		{"", key, nil}, {strings.Repeat("x", 65), key, nil}, {"alice", nil, nil},
		{"alice", key, make([]byte, 31)}, {"alice", key, []byte{}},
	} {
		if _, err := Seal(c.user, payload, c.key, c.r); !errors.Is(err, ErrInvalid) {
			t.Errorf("Seal(%q): %v", c.user, err)
		}
	}
}
