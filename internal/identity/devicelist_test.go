package identity

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/testkit"
)

func certOf(t testing.TB, id *IdentityPrivateKey, dev uint32) *DeviceCert {
	t.Helper()
	return Certify(id, mustDevice(t, dev), 1_700_000_000)
}

func TestDeviceListRoundTrip(t *testing.T) {
	id := mustIdentity(t)
	c1, c2 := certOf(t, id, 1), certOf(t, id, 7)
	l, err := NewDeviceList("alice", 3, 1_700_000_100, c2, c1) // any order
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Sign(id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseDeviceList(b, id.Public())
	if err != nil {
		t.Fatal(err)
	}
	if got.Username != "alice" || got.Version != 3 || got.Created != 1_700_000_100 || len(got.Devices) != 2 ||
		got.Devices[0].ID != 1 || got.Devices[1].ID != 7 || !bytes.Equal(got.Marshal(), b) {
		t.Fatalf("parsed %+v", got)
	}
	if !got.Lists(c1) || !got.Lists(c2) || !got.Has(7) || got.Has(2) {
		t.Fatal("Lists/Has disagree with the listed devices")
	}
	// Another certificate for a listed id (keys the directory swapped in,
	// even if validly certified) is not listed.
	if got.Lists(certOf(t, id, 7)) {
		t.Fatal("a different certificate for device 7 counts as listed")
	}
}

func TestDeviceListRefusesOtherKeysAndTampering(t *testing.T) {
	id, other := mustIdentity(t), mustIdentity(t)
	l, _ := NewDeviceList("alice", 1, 5, certOf(t, id, 1))
	if _, err := l.Sign(other); err == nil {
		t.Fatal("signed with a key that is not the listed identity")
	}
	b, _ := l.Sign(id)
	if _, err := ParseDeviceList(b, other.Public()); err == nil {
		t.Fatal("a list of another identity accepted")
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		if _, err := ParseDeviceList(c, id.Public()); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	if _, err := ParseDeviceList(b[:len(b)-1], id.Public()); err == nil {
		t.Fatal("truncated list accepted")
	}
	if _, err := ParseDeviceList(append(bytes.Clone(b[:len(b)-64]), append([]byte{0}, b[len(b)-64:]...)...), id.Public()); err == nil {
		t.Fatal("list with a trailing byte accepted")
	}
}

// A validly signed body that breaks the list's rules is still refused: the
// rules hold for whoever signs.
func TestDeviceListRules(t *testing.T) {
	id := mustIdentity(t)
	var h [CertHashSize]byte
	cases := map[string]*DeviceList{
		"duplicate id": {Username: "alice", Identity: id.Public(), Version: 1, Devices: []ListedDevice{{1, h}, {1, h}}},
		"unsorted":     {Username: "alice", Identity: id.Public(), Version: 1, Devices: []ListedDevice{{2, h}, {1, h}}},
		"device 0":     {Username: "alice", Identity: id.Public(), Version: 1, Devices: []ListedDevice{{0, h}}},
		"version 0":    {Username: "alice", Identity: id.Public(), Version: 0, Devices: []ListedDevice{{1, h}}},
		"empty":        {Username: "alice", Identity: id.Public(), Version: 1},
		"no username":  {Username: "", Identity: id.Public(), Version: 1, Devices: []ListedDevice{{1, h}}},
	}
	for name, l := range cases {
		if _, err := l.Sign(id); err == nil {
			t.Errorf("%s: signed", name)
		}
		body := l.body()
		signed := append(body, id.Sign(labelDeviceList, body)...)
		if _, err := ParseDeviceList(signed, id.Public()); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	// A signature made for another purpose does not make a list.
	l := &DeviceList{Username: "alice", Identity: id.Public(), Version: 1, Devices: []ListedDevice{{1, h}}}
	body := l.body()
	if _, err := ParseDeviceList(append(body, id.Sign(labelRotation, body)...), id.Public()); !errors.Is(err, ErrSignature) {
		t.Fatalf("list signed under the rotation label: %v", err)
	}
}

func TestDeviceListSuccession(t *testing.T) {
	id := mustIdentity(t)
	c1, c2 := certOf(t, id, 1), certOf(t, id, 2)
	sign := func(v uint64, certs ...*DeviceCert) *DeviceList {
		l, err := NewDeviceList("alice", v, int64(v), certs...)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := l.Sign(id)
		p, err := ParseDeviceList(b, id.Public())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	v1, v2, v3 := sign(1, c1), sign(2, c1, c2), sign(3, c2)
	if err := v1.CheckSuccessor(v2); err != nil {
		t.Fatal(err)
	}
	if err := v2.CheckSuccessor(v2); err != nil {
		t.Fatalf("a repeat of the held list: %v", err)
	}
	// A directory bringing back the list before a removal: refused.
	if err := v3.CheckSuccessor(v2); !errors.Is(err, ErrListVersion) {
		t.Fatalf("older list: %v", err)
	}
	// Two different lists at one version: refused.
	if err := v2.CheckSuccessor(sign(2, c2)); !errors.Is(err, ErrListVersion) {
		t.Fatalf("fork at one version: %v", err)
	}
	other := mustIdentity(t)
	ol, _ := NewDeviceList("alice", 9, 9, certOf(t, other, 1))
	ob, _ := ol.Sign(other)
	op, _ := ParseDeviceList(ob, other.Public())
	if err := v1.CheckSuccessor(op); err == nil {
		t.Fatal("a list of another identity succeeded")
	}
	added, removed := v2.Diff(v3)
	if len(added) != 0 || len(removed) != 1 || removed[0] != 1 {
		t.Fatalf("diff v2→v3: added %v removed %v", added, removed)
	}
	added, removed = v1.Diff(v2)
	if len(added) != 1 || added[0] != 2 || len(removed) != 0 {
		t.Fatalf("diff v1→v2: added %v removed %v", added, removed)
	}
}

func TestRotation(t *testing.T) {
	old, next := mustIdentity(t), mustIdentity(t)
	r, err := SignRotation("alice", old, next.Public(), 77)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRotation(r.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.Username != "alice" || !got.Old.Equal(old.Public()) || !got.New.Equal(next.Public()) || got.Created != 77 {
		t.Fatalf("parsed %+v", got)
	}
	b := r.Marshal()
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x80
		if _, err := ParseRotation(c); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	if _, err := SignRotation("alice", old, old.Public(), 1); err == nil {
		t.Fatal("rotation to the same key made")
	}
	// A statement signed by the new key (or anyone but the old key) fails.
	forged := &Rotation{Username: "alice", Old: old.Public(), New: next.Public(), Created: 1}
	body := forged.body()
	if _, err := ParseRotation(append(body, next.Sign(labelRotation, body)...)); !errors.Is(err, ErrSignature) {
		t.Fatalf("rotation signed by the new key: %v", err)
	}
}

type listVectors struct {
	IdentitySeed string `json:"identity_seed"`
	NewSeed      string `json:"new_identity_seed"`
	Certs        []string
	DeviceList   string `json:"device_list"`
	Rotation     string `json:"rotation"`
}

// The known-answer vectors are re-derived from their stored seeds each
// run (Ed25519 is deterministic).
func TestDeviceListVectors(t *testing.T) {
	const path = "testdata/devicelist.json"
	var s listVectors
	testkit.ReadJSON(t, path, &s)
	id, err := NewIdentityPrivateKey(mustHex(t, s.IdentitySeed))
	if err != nil {
		t.Fatal(err)
	}
	var certs []*DeviceCert
	for _, c := range s.Certs {
		cert, err := ParseDeviceCert(mustHex(t, c))
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, cert)
	}
	l, err := NewDeviceList("alice", 2, 1_700_000_000, certs...)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := l.Sign(id)
	next, _ := NewIdentityPrivateKey(mustHex(t, s.NewSeed))
	r, _ := SignRotation("alice", id, next.Public(), 1_700_000_500)
	got := listVectors{IdentitySeed: s.IdentitySeed, NewSeed: s.NewSeed, Certs: s.Certs,
		DeviceList: hex.EncodeToString(b), Rotation: hex.EncodeToString(r.Marshal())}
	testkit.Golden(t, path, got)
	if _, err := ParseDeviceList(mustHex(t, s.DeviceList), id.Public()); err != nil {
		t.Fatalf("stored list: %v", err)
	}
	if _, err := ParseRotation(mustHex(t, s.Rotation)); err != nil {
		t.Fatalf("stored rotation: %v", err)
	}
}

func FuzzParseDeviceList(f *testing.F) {
	id, _ := GenerateIdentity()
	dev, _ := GenerateDevice(1)
	l, _ := NewDeviceList("alice", 1, 1, Certify(id, dev, 1))
	valid, _ := l.Sign(id)
	for _, s := range [][]byte{valid, valid[:40], append(bytes.Clone(valid), 0), nil} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseDeviceList(b, id.Public())
		if err != nil {
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}

func FuzzParseRotation(f *testing.F) {
	old, _ := GenerateIdentity()
	next, _ := GenerateIdentity()
	r, _ := SignRotation("alice", old, next.Public(), 1)
	valid := r.Marshal()
	for _, s := range [][]byte{valid, valid[:40], append(bytes.Clone(valid), 0), nil} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseRotation(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}

func TestDeviceListSuccessor(t *testing.T) {
	id := mustIdentity(t)
	c1, c3 := certOf(t, id, 1), certOf(t, id, 3)
	l, _ := NewDeviceList("alice", 4, 1, c3)
	next, err := l.Successor(9, c1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if next.Version != 5 || next.Created != 9 || len(next.Devices) != 2 || next.Devices[0].ID != 1 || !next.Has(3) || next.NextID() != 4 {
		t.Fatalf("successor %+v", next)
	}
	gone, err := next.Successor(10, nil, 3)
	if err != nil || gone.Version != 6 || gone.Has(3) || !gone.Has(1) {
		t.Fatalf("removal: %+v, %v", gone, err)
	}
	if _, err := gone.Successor(11, nil, 3); err == nil {
		t.Fatal("removed a device that is not listed")
	}
	if _, err := gone.Successor(11, nil, 1); err == nil {
		t.Fatal("a list without devices")
	}
	if _, err := gone.Successor(11, certOf(t, mustIdentity(t), 2), 0); err == nil {
		t.Fatal("added a device of another identity")
	}
}
