package blobs

import (
	"errors"
	"net/http"
	"testing"

	"github.com/hush-chat/hush/internal/server/httpapi"
)

func TestLayoutTilesTheBlob(t *testing.T) {
	for _, c := range []struct{ size, chunkSize, chunks, last int64 }{
		{1, 65536, 1, 1},
		{65536, 65536, 1, 65536},
		{65537, 65536, 2, 1},
		{3*4096 + 100, 4096, 4, 100},
		{1 << 62, 1 << 20, 1 << 42, 1 << 20},
		{1<<63 - 1, 65536, 1 << 47, 65535}, // no overflow near the top of int64
	} {
		l := newLayout(c.size, c.chunkSize)
		if l.chunks != c.chunks || l.chunkLen(l.chunks-1) != c.last {
			t.Errorf("newLayout(%d, %d): %d chunks, last %d; want %d, %d",
				c.size, c.chunkSize, l.chunks, l.chunkLen(l.chunks-1), c.chunks, c.last)
		}
		checkLayout(t, l)
	}
}

func TestNewIDIsCanonicalAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		if len(id) != 22 {
			t.Fatalf("id of %d characters", len(id))
		}
		if _, err := parseID(id); err != nil {
			t.Fatalf("parseID refuses a fresh id: %v", err)
		}
		if seen[id] {
			t.Fatal("newID repeated an id")
		}
		seen[id] = true
	}
}

func TestParseIndexRefusesAliases(t *testing.T) {
	for _, s := range []string{"", "-1", "+1", "01", "00", " 1", "1.0", "0x1", "9223372036854775808"} {
		if _, err := parseIndex(s); err == nil {
			t.Errorf("parseIndex(%q) accepted", s)
		}
	}
	for s, want := range map[string]int64{"0": 0, "10": 10, "9223372036854775807": 1<<63 - 1} {
		if n, err := parseIndex(s); err != nil || n != want {
			t.Errorf("parseIndex(%q) = %d, %v; want %d", s, n, err, want)
		}
	}
}

func TestLimitsCheck(t *testing.T) {
	lim := limits{maxBlobSize: 1 << 20, maxChunk: 4096, maxRecipients: 3}
	for _, c := range []struct {
		name   string
		req    createRequest
		status int
		code   string
	}{
		{"ok", createRequest{1 << 20, 4096, 3, nil}, 0, ""},
		{"single chunk larger than the blob", createRequest{10, 4096, 1, nil}, 0, ""},
		{"empty", createRequest{0, 4096, 1, nil}, http.StatusBadRequest, "bad_size"},
		{"negative", createRequest{-5, 4096, 1, nil}, http.StatusBadRequest, "bad_size"},
		{"size over limit", createRequest{1<<20 + 1, 4096, 1, nil}, http.StatusRequestEntityTooLarge, "too_large"},
		{"chunk over limit", createRequest{100, 4097, 1, nil}, http.StatusRequestEntityTooLarge, "too_large"},
		{"chunk too small", createRequest{100, 4095, 1, nil}, http.StatusBadRequest, "bad_chunk_size"},
		{"no chunk size", createRequest{100, 0, 1, nil}, http.StatusBadRequest, "bad_chunk_size"},
		{"no recipients", createRequest{100, 4096, 0, nil}, http.StatusBadRequest, "bad_recipients"},
		{"too many recipients", createRequest{100, 4096, 4, nil}, http.StatusBadRequest, "bad_recipients"},
		{"multi-device share", createRequest{100, 4096, 3, map[string]int{"bob": 2}}, 0, ""},
		{"multi-device shares filling the recipients", createRequest{100, 4096, 3, map[string]int{"bob": 3}}, 0, ""},
		{"share of one", createRequest{100, 4096, 3, map[string]int{"bob": 1}}, http.StatusBadRequest, "bad_recipients"},
		{"share above recipients", createRequest{100, 4096, 3, map[string]int{"bob": 4}}, http.StatusBadRequest, "bad_recipients"},
		{"shares above recipients", createRequest{100, 4096, 3, map[string]int{"bob": 2, "carol": 2}}, http.StatusBadRequest, "bad_recipients"},
		{"share for a bad name", createRequest{100, 4096, 3, map[string]int{"Bob": 2}}, http.StatusBadRequest, "bad_recipients"},
		{"share for a flag-like name", createRequest{100, 4096, 3, map[string]int{"-bo": 2}}, http.StatusBadRequest, "bad_recipients"},
	} {
		err := lim.check(c.req)
		if c.status == 0 {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		var he *httpapi.Error
		if !errors.As(err, &he) || he.Status != c.status || he.Code != c.code {
			t.Errorf("%s: got %v, want %d %s", c.name, err, c.status, c.code)
		}
	}
	// With the default limits a chunk_size below 64 KiB is refused.
	def := limits{maxBlobSize: DefaultMaxBlobSize, maxChunk: DefaultMaxChunk, maxRecipients: 1}
	if err := def.check(createRequest{1 << 20, MinChunk - 1, 1, nil}); err == nil {
		t.Error("chunk_size under MinChunk accepted")
	}
}
