package identity

import (
	"bytes"
	"crypto/hpke"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"testing/cryptotest"

	"github.com/hush-chat/hush/internal/testkit"
	"github.com/hush-chat/hush/internal/wire"
)

func mustIdentity(t testing.TB) *IdentityPrivateKey {
	t.Helper()
	k, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustDevice(t testing.TB, id uint32) *DevicePrivateKey {
	t.Helper()
	d, err := GenerateDevice(id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSignatureIsBoundToLabel(t *testing.T) {
	k := mustIdentity(t)
	sig := k.Sign("hush/v1 a", []byte("msg"))
	if err := k.Public().Verify("hush/v1 a", []byte("msg"), sig); err != nil {
		t.Fatal(err)
	}
	// A signature made for one purpose must not verify for another.
	if err := k.Public().Verify("hush/v1 b", []byte("msg"), sig); !errors.Is(err, ErrSignature) {
		t.Fatalf("cross-label verify: got %v, want ErrSignature", err)
	}
	// label||0||msg framing: moving bytes between label and message changes
	// the signed string.
	if err := k.Public().Verify("hush/v1 am", []byte("sg"), sig); !errors.Is(err, ErrSignature) {
		t.Fatalf("shifted framing verified")
	}
}

func TestIdentitySeedRoundTrip(t *testing.T) {
	k := mustIdentity(t)
	k2, err := NewIdentityPrivateKey(k.Seed())
	if err != nil {
		t.Fatal(err)
	}
	if !k2.Public().Equal(k.Public()) {
		t.Fatal("seed did not rebuild the same key")
	}
	if _, err := NewIdentityPrivateKey(k.Seed()[:31]); err == nil {
		t.Fatal("short seed accepted")
	}
	if _, err := NewIdentityKey(make([]byte, 33)); err == nil {
		t.Fatal("33-byte identity key accepted")
	}
}

func TestDeviceCertRoundTripAndMatches(t *testing.T) {
	id, dev := mustIdentity(t), mustDevice(t, 7)
	c := Certify(id, dev, 1_700_000_000)
	enc := c.Marshal()
	if len(enc) != DeviceCertSize {
		t.Fatalf("certificate is %d bytes, spec says %d", len(enc), DeviceCertSize)
	}
	c2, err := ParseDeviceCert(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c2.Marshal(), enc) || c2.Device != 7 || c2.Created != 1_700_000_000 || !c2.Identity.Equal(id.Public()) {
		t.Fatalf("round trip changed the certificate: %+v", c2)
	}
	if !c2.Matches(dev) {
		t.Fatal("certificate does not match its own device")
	}
	if c2.Matches(mustDevice(t, 7)) {
		t.Fatal("certificate matches another device's keys")
	}
}

func TestDeviceCertTamperingDetected(t *testing.T) {
	c := Certify(mustIdentity(t), mustDevice(t, 1), 42)
	testkit.FlipEachByte(t, c.Marshal(), func(i int, m []byte) bool {
		_, err := ParseDeviceCert(m)
		return err != nil
	})
}

func TestDeviceCertFromAnotherIdentityRefused(t *testing.T) {
	// Security regression: a directory that re-signs a victim's device keys
	// under another identity must not produce a certificate naming the victim.
	victim, attacker, dev := mustIdentity(t), mustIdentity(t), mustDevice(t, 1)
	enc := Certify(attacker, dev, 1).Marshal()
	copy(enc[1:33], victim.Public().Bytes())
	if _, err := ParseDeviceCert(enc); !errors.Is(err, ErrSignature) {
		t.Fatalf("got %v, want ErrSignature", err)
	}
}

func TestDeviceCertMalformed(t *testing.T) {
	enc := Certify(mustIdentity(t), mustDevice(t, 1), 1).Marshal()
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"empty":     {nil, wire.ErrTruncated},
		"truncated": {enc[:len(enc)-1], wire.ErrTruncated},
		"trailing":  {append(bytes.Clone(enc), 0), wire.ErrTrailing},
		"version":   {append([]byte{2}, enc[1:]...), wire.ErrVersion},
	}
	for name, tc := range cases {
		_, err := ParseDeviceCert(tc.in)
		var we *wire.Error
		if !errors.Is(err, tc.want) || !errors.As(err, &we) {
			t.Errorf("%s: got %v, want *wire.Error wrapping %v", name, err, tc.want)
		}
	}
}

func TestDeviceIDZeroReserved(t *testing.T) {
	if _, err := GenerateDevice(0); !errors.Is(err, ErrDeviceID) {
		t.Fatalf("got %v", err)
	}
}

func TestDevicePrivateKeyRoundTrip(t *testing.T) {
	dev := mustDevice(t, 3)
	enc := dev.Marshal()
	dev2, err := ParseDevicePrivateKey(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dev2.Marshal(), enc) || dev2.ID() != 3 {
		t.Fatal("round trip changed the key")
	}
	// The rebuilt envelope key opens what was sealed to the original.
	ct, err := hpke.Seal(dev.EnvelopePublicKey(), hpke.HKDFSHA256(), hpke.AES256GCM(), nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := hpke.Open(dev2.EnvelopeKey(), hpke.HKDFSHA256(), hpke.AES256GCM(), nil, ct); err != nil || string(pt) != "x" {
		t.Fatalf("open with parsed key: %q %v", pt, err)
	}
	if _, err := ParseDevicePrivateKey(enc[:len(enc)-1]); err == nil {
		t.Fatal("truncated private key accepted")
	}
}

func TestSafetyNumberSymmetricAndSensitive(t *testing.T) {
	a, b := mustIdentity(t).Public(), mustIdentity(t).Public()
	ab, err := NewSafetyNumber("alice", a, "bob", b)
	if err != nil {
		t.Fatal(err)
	}
	ba, _ := NewSafetyNumber("bob", b, "alice", a)
	if ab.Digits() != ba.Digits() || !bytes.Equal(ab.QRPayload(), ba.QRPayload()) {
		t.Fatal("safety number depends on who computes it")
	}
	if len(ab.Digits()) != SafetyNumberDigits || strings.Trim(ab.Digits(), "0123456789") != "" {
		t.Fatalf("not 60 digits: %q", ab.Digits())
	}
	if got := ab.String(); len(got) != 60+11 {
		t.Fatalf("grouped form %q", got)
	}
	// Any change of key or name must change the number.
	c := mustIdentity(t).Public()
	for name, other := range map[string]func() (*SafetyNumber, error){
		"other key":  func() (*SafetyNumber, error) { return NewSafetyNumber("alice", a, "bob", c) },
		"other name": func() (*SafetyNumber, error) { return NewSafetyNumber("alice", a, "bobby", b) },
	} {
		sn, _ := other()
		if sn.Digits() == ab.Digits() {
			t.Errorf("%s: same safety number", name)
		}
		if err := ab.VerifyQR(sn.QRPayload()); !errors.Is(err, ErrSafetyMismatch) {
			t.Errorf("%s: QR verify got %v", name, err)
		}
	}
	if err := ab.VerifyQR(ba.QRPayload()); err != nil {
		t.Fatalf("matching QR refused: %v", err)
	}
	if err := ab.VerifyQR([]byte("not a QR payload")); !errors.Is(err, wire.ErrVersion) && !errors.Is(err, wire.ErrTruncated) && !errors.Is(err, wire.ErrTrailing) {
		t.Fatalf("garbage QR: got %v", err)
	}
}

func TestFingerprintFormat(t *testing.T) {
	k := mustIdentity(t).Public()
	fp := Fingerprint(k)
	if len(fp) != 39 || fp != Fingerprint(k) || fp == Fingerprint(mustIdentity(t).Public()) {
		t.Fatalf("fingerprint %q", fp)
	}
}

type identityVectors struct {
	IdentitySeed  string `json:"identity_seed"`
	IdentityKey   string `json:"identity_key"`
	DevicePrivate string `json:"device_private"`
	DeviceCert    string `json:"device_cert"`
	Fingerprint   string `json:"fingerprint"`
	PeerKey       string `json:"peer_identity_key"`
	SafetyNumber  string `json:"safety_number_alice_bob"`
	SafetyQR      string `json:"safety_qr_alice_bob"`
	MailboxID     string `json:"mailbox_id_device_1"`
}

func generateIdentityVectors(t *testing.T) identityVectors {
	cryptotest.SetGlobalRandom(t, 1)
	id, dev, peer := mustIdentity(t), mustDevice(t, 1), mustIdentity(t)
	cert := Certify(id, dev, 1_767_225_600)
	sn, err := NewSafetyNumber("alice", id.Public(), "bob", peer.Public())
	if err != nil {
		t.Fatal(err)
	}
	return identityVectors{
		IdentitySeed: hex.EncodeToString(id.Seed()), IdentityKey: hex.EncodeToString(id.Public().Bytes()),
		DevicePrivate: hex.EncodeToString(dev.Marshal()), DeviceCert: hex.EncodeToString(cert.Marshal()),
		Fingerprint: Fingerprint(id.Public()), PeerKey: hex.EncodeToString(peer.Public().Bytes()),
		SafetyNumber: sn.String(), SafetyQR: hex.EncodeToString(sn.QRPayload()),
		MailboxID: MailboxID(id.Public(), 1),
	}
}

func TestVectors(t *testing.T) {
	const path = "testdata/vectors.json"
	var v identityVectors
	t.Run("regenerate", func(t *testing.T) { v = generateIdentityVectors(t) })
	testkit.Golden(t, path, v)

	// Independently of generation: the stored keys rebuild the stored values.
	var s identityVectors
	testkit.ReadJSON(t, path, &s)
	id, _ := NewIdentityPrivateKey(mustHex(t, s.IdentitySeed))
	if hex.EncodeToString(id.Public().Bytes()) != s.IdentityKey || Fingerprint(id.Public()) != s.Fingerprint {
		t.Fatal("identity seed does not give the stored key or fingerprint")
	}
	dev, err := ParseDevicePrivateKey(mustHex(t, s.DevicePrivate))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseDeviceCert(mustHex(t, s.DeviceCert))
	if err != nil || !cert.Matches(dev) || !cert.Identity.Equal(id.Public()) {
		t.Fatalf("stored certificate: %v", err)
	}
	peer, _ := NewIdentityKey(mustHex(t, s.PeerKey))
	sn, _ := NewSafetyNumber("bob", peer, "alice", id.Public())
	if sn.String() != s.SafetyNumber || hex.EncodeToString(sn.QRPayload()) != s.SafetyQR {
		t.Fatal("stored safety number does not re-derive")
	}
	if MailboxID(id.Public(), 1) != s.MailboxID {
		t.Fatal("stored mailbox id does not re-derive")
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func BenchmarkSafetyNumber(b *testing.B) {
	x, y := mustIdentity(b).Public(), mustIdentity(b).Public()
	for b.Loop() {
		if _, err := NewSafetyNumber("alice", x, "bob", y); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMailboxID(t *testing.T) {
	k := mustIdentity(t).Public()
	m := MailboxID(k, 1)
	if len(m) != 32 || strings.Trim(m, "0123456789abcdef") != "" {
		t.Fatalf("mailbox id %q", m)
	}
	if m != MailboxID(k, 1) || m == MailboxID(k, 2) || m == MailboxID(mustIdentity(t).Public(), 1) {
		t.Fatal("mailbox id must be a function of exactly the identity key and device")
	}
}
