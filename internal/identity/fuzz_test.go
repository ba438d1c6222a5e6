package identity

import (
	"bytes"
	"testing"
)

func FuzzParseDeviceCert(f *testing.F) {
	id, _ := GenerateIdentity()
	dev, _ := GenerateDevice(1)
	valid := Certify(id, dev, 1).Marshal()
	seeds := [][]byte{valid, valid[:100], append(bytes.Clone(valid), 0), {1}, nil}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseDeviceCert(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Marshal(), b) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}

func FuzzParseDevicePrivateKey(f *testing.F) {
	dev, _ := GenerateDevice(9)
	valid := dev.Marshal()
	for _, s := range [][]byte{valid, valid[:50], append(bytes.Clone(valid), 1), nil} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDevicePrivateKey(b)
		if err != nil {
			return
		}
		if !bytes.Equal(d.Marshal(), b) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}
