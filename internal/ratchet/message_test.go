package ratchet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/wire"
)

func TestParseMessageRoundTrip(t *testing.T) {
	alice, _ := newPair(t)
	encrypt(t, alice, "zero")
	enc := encrypt(t, alice, "one")
	m, err := ParseMessage(enc)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.DH != alice.dhsPub || m.Header.N != 1 || m.Header.PN != 0 {
		t.Fatalf("header = %+v", m.Header)
	}
	if len(m.Ciphertext) != len("one")+tagSize {
		t.Fatalf("ciphertext length %d", len(m.Ciphertext))
	}
	if !bytes.Equal(m.Marshal(), enc) {
		t.Fatal("Marshal(ParseMessage(b)) != b")
	}
	enc[len(enc)-1] ^= 1
	if m.Ciphertext[len(m.Ciphertext)-1] == enc[len(enc)-1] {
		t.Fatal("ParseMessage result aliases its input")
	}
}

func TestParseMessageRefuses(t *testing.T) {
	valid := make([]byte, headerSize+tagSize)
	valid[0] = messageV1
	if _, err := ParseMessage(valid); err != nil {
		t.Fatalf("minimal message: %v", err)
	}
	withN := func(n uint32) []byte {
		b := bytes.Clone(valid)
		binary.BigEndian.PutUint32(b[headerSize-4:], n)
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, wire.ErrTruncated},
		{"header only", valid[:headerSize], wire.ErrTruncated},
		{"short tag", valid[:len(valid)-1], wire.ErrTruncated},
		{"version 0", append([]byte{0}, valid[1:]...), wire.ErrVersion},
		{"version 3", append([]byte{3}, valid[1:]...), wire.ErrVersion},
		{"reserved n", withN(reservedN), wire.ErrMalformed},
		{"too large", append(bytes.Clone(valid), make([]byte, MaxMessageSize)...), wire.ErrTooLarge},
	}
	for _, c := range cases {
		_, err := ParseMessage(c.b)
		var we *wire.Error
		if !errors.Is(err, c.want) || !errors.As(err, &we) {
			t.Errorf("%s: %v, want *wire.Error wrapping %v", c.name, err, c.want)
		}
	}
	if _, err := ParseMessage(withN(reservedN - 1)); err != nil {
		t.Errorf("largest message number refused: %v", err)
	}
}
