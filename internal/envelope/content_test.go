package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/wire"
)

func TestContentRoundTrip(t *testing.T) {
	long := strings.Repeat("é", MaxUserLen/2) // 64 bytes of UTF-8
	for _, c := range []*Content{
		testContent(bob, 0),
		testContent(Address{}, 5),
		testContent(Address{User: long, Device: 0xffffffff}, 1000),
		{Sender: Address{User: "x"}, Recipient: Address{User: "y"}, Timestamp: -1, Type: 255, Payload: make([]byte, MaxPayload)},
	} {
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != PaddedLen(encodedLen(c)) {
			t.Errorf("encoding is %d bytes, want %d", len(b), PaddedLen(encodedLen(c)))
		}
		got, err := ParseContent(b)
		if err != nil {
			t.Fatal(err)
		}
		if !equalContent(got, c) {
			t.Errorf("round trip changed the content")
		}
		// The parsed payload is a copy, not a view of the input.
		if len(got.Payload) > 0 {
			b[encodedLen(c)-1] ^= 1
			if got.Payload[len(got.Payload)-1] != c.Payload[len(c.Payload)-1] {
				t.Errorf("ParseContent payload aliases its input")
			}
		}
	}
}

func TestMarshalRefusesInvalidContent(t *testing.T) {
	for name, mutate := range map[string]func(c *Content){
		"empty sender":            func(c *Content) { c.Sender.User = "" },
		"long sender":             func(c *Content) { c.Sender.User = strings.Repeat("a", MaxUserLen+1) },
		"non-UTF-8 sender":        func(c *Content) { c.Sender.User = "bo\xffb" },
		"device without user":     func(c *Content) { c.Recipient = Address{Device: 3} },
		"long recipient":          func(c *Content) { c.Recipient.User = strings.Repeat("b", 65) },
		"non-UTF-8 recipient":     func(c *Content) { c.Recipient.User = "\xc3" },
		"type 0":                  func(c *Content) { c.Type = 0 },
		"payload above the limit": func(c *Content) { c.Payload = make([]byte, MaxPayload+1) },
	} {
		c := testContent(bob, 10)
		mutate(c)
		if _, err := c.Marshal(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Marshal: %v", name, err)
		}
		if _, err := Seal(newKey(t).PublicKey(), c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Seal: %v", name, err)
		}
	}
}

func TestParseContentRefuses(t *testing.T) {
	valid, err := testContent(bob, 10).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Offsets in the encoding of testContent(bob, 10).
	const (
		offSenderLen = 1
		offRcptLen   = 1 + 1 + 5 + 4
		offRcptDev   = offRcptLen + 1 + 3
		offType      = offRcptDev + 4 + 16 + 8
		offPayLen    = offType + 1
	)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	for _, tc := range []struct {
		name  string
		in    []byte
		want  error
		field string
	}{
		{"empty", nil, wire.ErrTruncated, "version"},
		{"version 2", edit(func(b []byte) []byte { b[0] = 2; return b }), wire.ErrVersion, "version"},
		{"empty sender", edit(func(b []byte) []byte {
			return append(append([]byte{1, 0}, b[offSenderLen+1+5:]...), make([]byte, 5)...)
		}), wire.ErrMalformed, "sender.user"},
		{"user length 65", edit(func(b []byte) []byte { b[offSenderLen] = 65; return b }), wire.ErrTooLarge, "sender.user"},
		{"non-UTF-8 user", edit(func(b []byte) []byte { b[offSenderLen+1] = 0xff; return b }), wire.ErrMalformed, "sender.user"},
		{"device without user", edit(func(b []byte) []byte {
			b = append(append(b[:offRcptLen:offRcptLen], 0, 0, 0, 0, 9), b[offRcptDev+4:]...)
			return append(b, 0, 0, 0)
		}), wire.ErrMalformed, "recipient"},
		{"type 0", edit(func(b []byte) []byte { b[offType] = 0; return b }), wire.ErrMalformed, "type"},
		{"payload length above the limit", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offPayLen:], MaxPayload+1)
			return b
		}), wire.ErrTooLarge, "payload"},
		{"payload length beyond the input", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offPayLen:], 1000)
			return b
		}), wire.ErrTruncated, "payload"},
		{"nonzero padding", edit(func(b []byte) []byte { b[len(b)-1] = 0x80; return b }), wire.ErrMalformed, "padding"},
		{"unpadded", valid[:offPayLen+4+10], wire.ErrMalformed, "padding"},
		{"one byte of padding short", valid[:len(valid)-1], wire.ErrMalformed, "padding"},
		{"padded to the next bucket", append(bytes.Clone(valid), make([]byte, len(valid))...), wire.ErrMalformed, "padding"},
		{"oversized", make([]byte, maxPaddedLen+1), wire.ErrTooLarge, ""},
	} {
		c, err := ParseContent(tc.in)
		if c != nil {
			t.Errorf("%s: parsed", tc.name)
			continue
		}
		if field, sentinel := wireField(t, err); sentinel != tc.want || field != tc.field {
			t.Errorf("%s: %v, want %v in field %q", tc.name, err, tc.want, tc.field)
		}
	}
}

// Parsing a content allocates only what it returns: the Content, the two
// user names and the payload.
func TestParseContentAllocations(t *testing.T) {
	c := Content{Sender: Address{User: "alice", Device: 1}, Recipient: Address{User: "bob", Device: 2},
		Type: 1, Payload: []byte("hello")}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := ParseContent(b); err != nil {
			t.Fatal(err)
		}
	}); n > 4 {
		t.Fatalf("%v allocations per parse, want at most 4", n)
	}
}
