package export

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameRunes bounds a stored file name; the ending (extension) is kept.
const maxNameRunes = 100

// safeName turns a file name chosen by the sender into one element that
// is safe to store under files/ and to open on any common file system.
// Security regression guard: the sender controls the name, so "../x",
// "/etc/passwd", "a\\..\\b", "index.html" with a right-to-left override,
// or a name full of control characters must all end up as a plain name
// inside files/.
func safeName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	name = strings.ReplaceAll(name, "\\", "/")
	name = strings.TrimPrefix(path.Base("/"+name), "/") // the last element only
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			// dropped: control characters and invisible formatting
			// (bidi overrides disguise an extension)
		case strings.ContainsRune(`/:*?"<>|`, r):
			b.WriteRune('_') // not allowed in a name on Windows or macOS
		default:
			b.WriteRune(r)
		}
	}
	// Leading dots would hide the file or make "." / ".."; trailing dots
	// and spaces are dropped by Windows.
	name = strings.TrimRight(strings.TrimLeft(strings.TrimSpace(b.String()), "."), ". ")
	name = shorten(name)
	switch {
	case name == "":
		name = "file"
	case reservedOnWindows(name):
		name = "file_" + name
	}
	return name
}

// shorten cuts a long name to maxNameRunes, keeping a short extension.
func shorten(name string) string {
	if utf8.RuneCountInString(name) <= maxNameRunes {
		return name
	}
	ext := path.Ext(name)
	if utf8.RuneCountInString(ext) > 16 {
		ext = ""
	}
	base := []rune(strings.TrimSuffix(name, ext))
	return strings.TrimRight(string(base[:maxNameRunes-utf8.RuneCountInString(ext)]), ". ") + ext
}

// reservedOnWindows reports device names Windows will not create as files.
func reservedOnWindows(name string) bool {
	stem, _, _ := strings.Cut(strings.ToUpper(name), ".")
	switch stem {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	return len(stem) == 4 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) &&
		stem[3] >= '0' && stem[3] <= '9'
}

// namer hands out unique safe names, compared without case so that an
// archive unpacked on a case-insensitive file system loses nothing.
type namer struct{ used map[string]bool }

func newNamer() *namer { return &namer{used: map[string]bool{}} }

func (n *namer) next(name string) string {
	name = safeName(name)
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if stem == "" { // ".tar" style names keep the whole name as stem
		stem, ext = name, ""
	}
	candidate := name
	for i := 2; n.used[strings.ToLower(candidate)]; i++ {
		candidate = fmt.Sprintf("%s (%d)%s", stem, i, ext)
	}
	n.used[strings.ToLower(candidate)] = true
	return candidate
}
