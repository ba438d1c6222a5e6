// Package testkit holds helpers shared by hush's tests. It is imported only
// from _test.go files.
package testkit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Update is set by `go test -update`: golden files are rewritten instead of
// compared.
var Update = flag.Bool("update", false, "rewrite testdata golden files")

// Golden encodes v as indented JSON and compares it with the file at path,
// failing the test on the first differing line. With -update it rewrites the
// file instead.
func Golden(t testing.TB, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			t.Fatalf("%s differs at line %d:\n got: %.200s\nwant: %.200s", path, i+1, gl[i], wl[i])
		}
	}
	t.Fatalf("%s differs in length: got %d lines, want %d", path, len(gl), len(wl))
}

// ReadJSON decodes the JSON file at path into v.
func ReadJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// FlipEachByte calls f with a copy of b in which byte i has been changed,
// for every i. f reports whether the change was detected.
func FlipEachByte(t testing.TB, b []byte, f func(i int, mutated []byte) bool) {
	t.Helper()
	for i := range b {
		m := bytes.Clone(b)
		m[i] ^= 0x01 << (i % 8)
		if !f(i, m) {
			t.Fatalf("changing byte %d of %d went undetected", i, len(b))
		}
	}
}

// GoldenBytes is Golden, returning the golden file's bytes for tests that
// go on to decode what was stored.
func GoldenBytes(t testing.TB, path string, v any) []byte {
	t.Helper()
	Golden(t, path, v)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Hex is a byte string written as hex in JSON (known-answer vectors).
type Hex []byte

func (h Hex) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *Hex) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	*h = v
	return err
}
