package export

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var nameCases = []struct{ in, want string }{
	{"report.pdf", "report.pdf"},
	{"../../etc/passwd", "passwd"},
	{"/etc/shadow", "shadow"},
	{`..\..\Windows\system.ini`, "system.ini"},
	{"..", "file"},
	{".", "file"},
	{"", "file"},
	{"...", "file"},
	{".bashrc", "bashrc"},
	{"index.html", "index.html"},
	{"a\x00b\nc\x7f.txt", "abc.txt"},
	{"invoice\u202efdp.exe", "invoicefdp.exe"},
	{"zero\u200bwidth.txt", "zerowidth.txt"},
	{"what?<>|*:.txt", "what______.txt"},
	{"trailing. . ", "trailing"},
	{"CON", "file_CON"},
	{"com1.txt", "file_com1.txt"},
	{"console.txt", "console.txt"},
	{"bad\xffutf8", "bad_utf8"},
	{"Grüße.txt", "Grüße.txt"},
}

// Security regression: hostile names from a sender.
func TestSafeName(t *testing.T) {
	for _, c := range nameCases {
		if got := safeName(c.in); got != c.want {
			t.Errorf("safeName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSafeNameKeepsExtensionWhenShortening(t *testing.T) {
	got := safeName(strings.Repeat("é", 300) + ".tar.gz")
	if utf8.RuneCountInString(got) != maxNameRunes || !strings.HasSuffix(got, ".gz") {
		t.Errorf("got %q (%d runes)", got, utf8.RuneCountInString(got))
	}
}

func TestNamerIsUniqueIgnoringCase(t *testing.T) {
	n := newNamer()
	var got []string
	for _, s := range []string{"a.txt", "A.TXT", "a.txt", "dir/a.txt", "a (2).txt", "b"} {
		got = append(got, n.next(s))
	}
	want := []string{"a.txt", "A (2).TXT", "a (3).txt", "a (4).txt", "a (2) (2).txt", "b"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func FuzzSafeName(f *testing.F) {
	for _, c := range nameCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := safeName(in)
		if got == "" || got == "." || got == ".." || strings.HasPrefix(got, ".") || !utf8.ValidString(got) {
			t.Fatalf("safeName(%q) = %q", in, got)
		}
		if strings.ContainsAny(got, `/\:`) || utf8.RuneCountInString(got) > maxNameRunes+5 {
			t.Fatalf("safeName(%q) = %q", in, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("safeName(%q) = %q keeps %U", in, got, r)
			}
		}
	})
}
