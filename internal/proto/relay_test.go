package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestAckFrameRoundTrip(t *testing.T) {
	seqs := []int64{1, 42, 1<<63 - 1}
	frame, err := EncodeAck(seqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(frame) != 3+8*len(seqs) || frame[0] != 0x01 || binary.BigEndian.Uint16(frame[1:]) != 3 {
		t.Fatalf("frame %x", frame)
	}
	got, err := DecodeAck(frame)
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 42 || got[2] != 1<<63-1 {
		t.Fatalf("decoded %v %v", got, err)
	}
	if _, err := EncodeAck(nil); err == nil {
		t.Error("empty ack encoded")
	}
}

func TestDecodeAckRefuses(t *testing.T) {
	ok, _ := EncodeAck([]int64{7, 8})
	cases := map[string][]byte{
		"empty":             nil,
		"header only":       {0x01, 0x00},
		"zero count":        {0x01, 0x00, 0x00},
		"wrong version":     append([]byte{0x02}, ok[1:]...),
		"truncated":         ok[:len(ok)-1],
		"trailing byte":     append(append([]byte{}, ok...), 0),
		"count too high":    {0x01, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1},
		"zero seq":          {0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0},
		"negative seq":      {0x01, 0x00, 0x01, 0x80, 0, 0, 0, 0, 0, 0, 1},
		"extra seq payload": append(append([]byte{}, ok...), ok[3:11]...),
	}
	for name, frame := range cases {
		if _, err := DecodeAck(frame); !errors.Is(err, ErrBadAck) {
			t.Errorf("%s: %v, want ErrBadAck", name, err)
		}
	}
}

func TestDeliveryFrame(t *testing.T) {
	env := []byte{0x01, 0xaa, 0xbb}
	frame := EncodeDelivery(0x0102030405060708, env)
	want := []byte{0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0xaa, 0xbb}
	if !bytes.Equal(frame, want) {
		t.Fatalf("frame %x, want %x", frame, want)
	}
	seq, got, err := DecodeDelivery(frame)
	if err != nil || seq != 0x0102030405060708 || !bytes.Equal(got, env) {
		t.Fatalf("decoded %d %x %v", seq, got, err)
	}
	for _, bad := range [][]byte{nil, frame[:9], append([]byte{0x02}, frame[1:]...)} {
		if _, _, err := DecodeDelivery(bad); err == nil {
			t.Errorf("DecodeDelivery(%x) accepted", bad)
		}
	}
}

func FuzzDecodeAck(f *testing.F) {
	one, _ := EncodeAck([]int64{1})
	many, _ := EncodeAck([]int64{5, 3, 1 << 40})
	for _, s := range [][]byte{one, many, nil, {0x01}, {0x01, 0, 0}, {0x01, 0xff, 0xff}, {0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		seqs, err := DecodeAck(frame)
		if err != nil {
			if !errors.Is(err, ErrBadAck) {
				t.Fatalf("error %v is not ErrBadAck", err)
			}
			return
		}
		// One encoding per value: what decodes re-encodes to the input.
		again, err := EncodeAck(seqs)
		if err != nil || !bytes.Equal(again, frame) {
			t.Fatalf("re-encoding differs: %x vs %x (%v)", again, frame, err)
		}
		for _, s := range seqs {
			if s <= 0 {
				t.Fatalf("non-positive seq %d accepted", s)
			}
		}
	})
}

// The routing of a fan-out is u8 0x01 || u16 n || n × 16-byte mailbox id,
// and only mailbox ids are encoded.
func TestRoutingEncoding(t *testing.T) {
	a, b := "00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100"
	r, err := NewRouting([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{FanoutVersion, 0, 2},
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
		0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00)
	if !bytes.Equal(r, want) {
		t.Fatalf("routing %x, want %x", []byte(r), want)
	}
	if body := r.Body([]byte{0x03, 9}); !bytes.Equal(body, append(want, 0x03, 9)) {
		t.Errorf("body %x", body)
	}
	for name, ms := range map[string][]string{
		"none":      nil,
		"too many":  make([]string, MaxFanout+1),
		"short id":  {a[:30]},
		"not hex":   {"zz" + a[2:]},
		"uppercase": {"00112233445566778899AABBCCDDEEFX"},
	} {
		if _, err := NewRouting(ms); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	if !ValidMailbox(a) || ValidMailbox("00112233445566778899AABBCCDDEEFF") || ValidMailbox("+") {
		t.Error("ValidMailbox")
	}
}
