package blobs

import (
	"bytes"
	"encoding/base64"
	"net/http/httptest"
	"strconv"
	"testing"
)

// addSeeds adds seeds and fails the fuzz target if there are none: a fuzz
// target without seeds tests nothing under plain `go test`.
func addSeeds[T string | []byte](f *testing.F, seeds []T) {
	f.Helper()
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range seeds {
		f.Add(s)
	}
}

func FuzzDecodeCreate(f *testing.F) {
	addSeeds(f, [][]byte{
		[]byte(`{"size":1,"chunk_size":65536,"recipients":1}`),
		[]byte(`{"size":200000,"chunk_size":65536,"recipients":3}`),
		[]byte(`{"size":2147483648,"chunk_size":4194304,"recipients":1000}`),
		[]byte(`{"size":9223372036854775807,"chunk_size":65536,"recipients":1}`),
		[]byte(`{"size":-1,"chunk_size":65536,"recipients":1}`),
		[]byte(`{"size":1,"chunk_size":1,"recipients":1}`),
		[]byte(`{"size":1,"chunk_size":65536,"recipients":0}`),
		[]byte(`{"size":1,"chunk_size":65536,"recipients":1,"owner":"eve"}`),
		[]byte(`{"size":1e3,"chunk_size":65536,"recipients":1}`),
		[]byte(`{"size":1,"chunk_size":65536,"recipients":1}{}`),
		[]byte(`{"size":"1"}`),
		[]byte(`[]`),
		[]byte(``),
		[]byte(`{"size":1,"chunk_size":65536,"recipients":3,"multi_device":{"bob":2}}`),
		[]byte(`{"size":1,"chunk_size":65536,"recipients":3,"multi_device":{"bob":2,"carol":2}}`),
		[]byte(`{"size":1,"chunk_size":65536,"recipients":3,"multi_device":{"bob":-1}}`),
		[]byte(`{"size":1,"chunk_size":65536,"recipients":3,"multi_device":{"../x":2}}`),
		[]byte(`{"size":1,"chunk_size":65536,"recipients":3,"multi_device":{"bob":2,"bob":3}}`),
	})
	lim := limits{maxBlobSize: DefaultMaxBlobSize, maxChunk: DefaultMaxChunk, maxRecipients: DefaultMaxRecipients}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/v1/blobs", bytes.NewReader(body))
		req, err := decodeCreate(r, lim)
		if err != nil {
			return
		}
		if req.Size < 1 || req.Size > lim.maxBlobSize || req.ChunkSize < MinChunk || req.ChunkSize > lim.maxChunk ||
			req.Recipients < 1 || req.Recipients > lim.maxRecipients {
			t.Fatalf("accepted out-of-limits request %+v", req)
		}
		sum := 0
		for name, n := range req.MultiDevice {
			sum += n
			if !validUsername(name) || n < 2 {
				t.Fatalf("accepted multi_device entry %q: %d", name, n)
			}
		}
		if sum > req.Recipients {
			t.Fatalf("accepted multi_device shares adding up to %d of %d recipients", sum, req.Recipients)
		}
		checkLayout(t, newLayout(req.Size, req.ChunkSize))
	})
}

// checkLayout asserts that the chunks of l tile exactly l.size bytes.
func checkLayout(t *testing.T, l layout) {
	t.Helper()
	if l.chunks < 1 || l.has(-1) || l.has(l.chunks) || !l.has(l.chunks-1) {
		t.Fatalf("bad chunk count in %+v", l)
	}
	last := l.chunkLen(l.chunks - 1)
	if last < 1 || last > l.chunkSize {
		t.Fatalf("last chunk of %d bytes in %+v", last, l)
	}
	if l.chunks > 1 && l.chunkLen(0) != l.chunkSize {
		t.Fatalf("first chunk is not full in %+v", l)
	}
	if (l.chunks-1)*l.chunkSize+last != l.size {
		t.Fatalf("chunks do not add up to the size in %+v", l)
	}
}

func FuzzParseID(f *testing.F) {
	addSeeds(f, []string{
		newID(), "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAB", "____________________-w",
		"AAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAA==",
		"AAAAAAAAAAAAAAAAAAAA+A", "../../../../etc/passwd", "", "%2e%2e",
	})
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseID(s)
		if err != nil {
			return
		}
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != idBytes || base64.RawURLEncoding.EncodeToString(b) != s {
			t.Fatalf("accepted non-canonical id %q", s)
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	addSeeds(f, []string{"0", "1", "7", "32767", "9223372036854775807", "9223372036854775808",
		"07", "-1", "+1", " 1", "1 ", "0x10", "1e3", "", "99999999999999999999"})
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseIndex(s)
		if err != nil {
			return
		}
		if n < 0 || strconv.FormatInt(n, 10) != s {
			t.Fatalf("parseIndex(%q) = %d: not the canonical spelling of a non-negative number", s, n)
		}
	})
}
