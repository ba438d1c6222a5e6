package storage_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/hush-chat/hush/internal/storage"
	"github.com/hush-chat/hush/internal/storage/storagetest"
)

func TestMemoryContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b := storage.Memory()
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestMetaRoundTrip(t *testing.T) {
	m := &storage.Meta{Version: 2, KDF: storage.KDFArgon2id, Salt: []byte("0123456789abcdef"),
		Time: 3, Memory: 12 << 10, Threads: 2, Verifier: []byte("sealed label")}
	b := m.Marshal()
	got, err := storage.ParseMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != m.Version || got.KDF != m.KDF || !bytes.Equal(got.Salt, m.Salt) || got.Time != m.Time ||
		got.Memory != m.Memory || got.Threads != m.Threads || !bytes.Equal(got.Verifier, m.Verifier) {
		t.Fatalf("round trip: %+v, want %+v", got, m)
	}
	// Strict parsing: every truncation and any trailing byte is refused.
	for i := range b {
		if _, err := storage.ParseMeta(b[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: parsed", i)
		}
	}
	if _, err := storage.ParseMeta(append(b, 0)); err == nil {
		t.Fatal("trailing byte: parsed")
	}
	// A threads count past uint8 is refused, not wrapped to 0.
	wide := binary.AppendUvarint([]byte{2, 0, 0, 1, 8}, 256)
	if _, err := storage.ParseMeta(append(wide, 0)); err == nil {
		t.Fatal("threads 256: parsed")
	}
	if _, err := storage.ParseMeta(append(binary.AppendUvarint([]byte{2, 0, 0, 1, 8}, 255), 0)); err != nil {
		t.Fatalf("threads 255: %v", err)
	}
}
