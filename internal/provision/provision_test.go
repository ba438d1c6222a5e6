package provision

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/testkit"
)

func sampleMessage() *Message {
	return &Message{Username: "alice", IdentitySeed: bytes.Repeat([]byte{7}, 32), DeviceID: 2,
		ServerKey: bytes.Repeat([]byte{9}, 32), DeviceList: []byte("list"), Contacts: []byte(`[{"username":"bob"}]`),
		Groups: []byte(`[{"name":"team"}]`)}
}

func TestSealOpen(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	const slot = "AAAAAAAAAAAAAAAA"
	ct, err := Seal(k.Public(), slot, sampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	m, err := k.Open(slot, ct)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleMessage()
	if m.Username != want.Username || !bytes.Equal(m.IdentitySeed, want.IdentitySeed) || m.DeviceID != 2 ||
		!bytes.Equal(m.ServerKey, want.ServerKey) || !bytes.Equal(m.DeviceList, want.DeviceList) || !bytes.Equal(m.Contacts, want.Contacts) ||
		!bytes.Equal(m.Groups, want.Groups) {
		t.Fatalf("opened %+v", m)
	}
	// Bound to the slot: the same answer under another slot id fails.
	if _, err := k.Open("BBBBBBBBBBBBBBBB", ct); err == nil {
		t.Fatal("opened under another slot id")
	}
	// Another key fails; every flipped byte fails.
	other, _ := NewKey()
	if _, err := other.Open(slot, ct); err == nil {
		t.Fatal("opened with another key")
	}
	for i := 0; i < len(ct); i += 7 {
		c := bytes.Clone(ct)
		c[i] ^= 1
		if _, err := k.Open(slot, c); err == nil {
			t.Fatalf("byte %d flipped: opened", i)
		}
	}
}

func TestCode(t *testing.T) {
	k, _ := NewKey()
	const slot = "MFRGGZDFMZTWQ2LK" // 10 bytes
	code, err := Code(slot, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(code, CodePrefix) || len(code) != len(CodePrefix)+40 {
		t.Fatalf("code %q", code)
	}
	// Typed by a person: lower case, spaces, dashes.
	sloppy := strings.ToLower(code[:14]) + " " + code[14:20] + "-" + code[20:]
	id, hash, err := ParseCode(sloppy)
	if err != nil || id != slot {
		t.Fatalf("ParseCode(%q) = %q, %v", sloppy, id, err)
	}
	if err := CheckKey(hash, k.Public()); err != nil {
		t.Fatal(err)
	}
	other, _ := NewKey()
	if err := CheckKey(hash, other.Public()); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("another key: %v", err)
	}
	for _, bad := range []string{"", "HUSH-LINK-", "HUSH-LINK-AAAA", "LINK-" + code[len(CodePrefix):], code + "AA", code[:len(code)-1] + "1"} {
		if _, _, err := ParseCode(bad); !errors.Is(err, ErrCode) {
			t.Errorf("ParseCode(%q): %v", bad, err)
		}
	}
	fp := Fingerprint(k.Public())
	if len(fp) != 29 || fp != Fingerprint(k.Public()) || fp == Fingerprint(other.Public()) {
		t.Fatalf("fingerprint %q", fp)
	}
}

type vectors struct {
	PublicKey   string `json:"public_key"`
	SlotID      string `json:"slot_id"`
	Code        string `json:"code"`
	Fingerprint string `json:"fingerprint"`
	Message     string `json:"message_encoding"`
}

// Known answers: the code and fingerprint of a stored key, and the
// plaintext encoding of a message (the HPKE seal itself is randomized and
// checked by TestSealOpen).
func TestVectors(t *testing.T) {
	const path = "testdata/vectors.json"
	var s vectors
	testkit.ReadJSON(t, path, &s)
	pub, err := hex.DecodeString(s.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	code, err := Code(s.SlotID, pub)
	if err != nil {
		t.Fatal(err)
	}
	got := vectors{PublicKey: s.PublicKey, SlotID: s.SlotID, Code: code, Fingerprint: Fingerprint(pub),
		Message: hex.EncodeToString(sampleMessage().encode())}
	testkit.Golden(t, path, got)
	m, err := decode(sampleMessage().encode())
	if err != nil || m.Username != "alice" {
		t.Fatalf("decode: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	valid := sampleMessage().encode()
	for _, s := range [][]byte{valid, valid[:20], append(bytes.Clone(valid), 0), {1}, nil} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.encode(), b) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}

func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"HUSH-LINK-MFRGGZDFMZTWQ2LKAAAAAAAAAAAAAAAAAAAAAAAA", "hush-link-", "", "HUSH-LINK-!!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, hash, err := ParseCode(s)
		if err != nil {
			return
		}
		if len(hash) != keyHashSize {
			t.Fatalf("hash of %d bytes", len(hash))
		}
		if _, err := b32.DecodeString(id); err != nil {
			t.Fatalf("slot id %q does not decode", id)
		}
	})
}

// A message of the version before groups were carried is refused, not
// read as one without groups.
func TestVersionOneRefused(t *testing.T) {
	b := sampleMessage().encode()
	b[0] = 0x01
	if _, err := decode(b); err == nil {
		t.Fatal("a version 1 message was accepted")
	}
	m := sampleMessage()
	m.Groups = nil
	b = m.encode()
	if _, err := decode(b[:len(b)-4]); err == nil {
		t.Fatal("a message without the groups field was accepted")
	}
}
