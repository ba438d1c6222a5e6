package textsafe

import (
	"strings"
	"testing"
)

// Security regression: peer-chosen text printed by the CLI must not carry
// terminal control sequences, and what was removed stays visible.
func TestSecurityLineEscapesTerminalControls(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, ünïcödé ✓", "plain text, ünïcödé ✓"},
		{"\x1b[2J", `\x1b[2J`},
		{"\x1b]0;owned\x07", `\x1b]0;owned\x07`},
		{"\x1b]52;c;ZXZpbA==\x07", `\x1b]52;c;ZXZpbA==\x07`},
		{"a\rb\tc\x08\x7f", `a\rb\tc\x08\x7f`},
		{"\u009b31m", `\u009b31m`},
		{"\u0085next", `\u0085next`},
		{"abc\u202edcba", `abc\u202edcba`},
		{"\u2066x\u2069\u200e\u200f\u061c", `\u2066x\u2069\u200e\u200f\u061c`},
		{"\u202a\u202b\u202c\u202d\u2067\u2068", `\u202a\u202b\u202c\u202d\u2067\u2068`},
		{"bad\xffutf8\x9b", `bad\xffutf8\x9b`},
		{"two\nlines", `two\nlines`},
		{"", ""},
	} {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTextKeepsNewlinesOnly(t *testing.T) {
	if got, want := Text("hi\n\x1b[31mred\r\n"), "hi\n\\x1b[31mred\\r\n"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

// Security regression: a newline in a message cannot start a line that
// looks like a message of its own.
func TestSecurityIndentStopsForgedLines(t *testing.T) {
	got := Indent("hi\nalice: fake\n\x1b[2Jx", "  | ")
	want := "hi\n  | alice: fake\n  | \\x1b[2Jx"
	if got != want {
		t.Errorf("Indent = %q, want %q", got, want)
	}
}

func TestStripDropsControls(t *testing.T) {
	in := "hi\x1b]0;owned\x07\x1b[2J\r\u009b31m\u202eevil\x08\x7f\tx\ny"
	if got, want := Strip(in, false), "hi]0;owned[2J31mevil    x y"; got != want {
		t.Errorf("Strip(single line) = %q, want %q", got, want)
	}
	if got := Strip(in, true); !strings.HasSuffix(got, "x\ny") {
		t.Errorf("Strip(multiline) lost the newline: %q", got)
	}
}

func TestNoEscapedOutputHoldsAnUnsafeRune(t *testing.T) {
	var all strings.Builder
	for r := rune(0); r < 0x3000; r++ {
		all.WriteRune(r)
	}
	all.WriteString("\xff\xc3")
	for _, out := range []string{Line(all.String()), Text(all.String())} {
		for _, r := range out {
			if Unsafe(r) && r != '\n' {
				t.Fatalf("unsafe rune %U left in the output", r)
			}
		}
	}
}
