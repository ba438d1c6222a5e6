package tui

import "testing"

// Security regression: clean is what stands between peer-chosen text and
// the terminal.
func TestSecurityCleanStripsControls(t *testing.T) {
	for _, tc := range []struct{ in, multi, single string }{
		{"plain text", "plain text", "plain text"},
		{"two\nlines", "two\nlines", "two lines"},
		{"\x1b[2Jclear", "[2Jclear", "[2Jclear"},
		{"title\x1b]0;x\x07", "title]0;x", "title]0;x"},
		{"c1\u009b31m", "c131m", "c131m"},
		{"over\rwrite", "overwrite", "overwrite"},
		{"bs\x08\x7f", "bs", "bs"},
		{"tab\there", "tab    here", "tab    here"},
		{"bidi\u202etxt.exe\u2066", "biditxt.exe", "biditxt.exe"},
		{"bad\xffutf8", "bad\ufffdutf8", "bad\ufffdutf8"},
		{"emoji 🔒 ünïcode", "emoji 🔒 ünïcode", "emoji 🔒 ünïcode"},
	} {
		if got := clean(tc.in, true); got != tc.multi {
			t.Errorf("clean(%q, multiline) = %q, want %q", tc.in, got, tc.multi)
		}
		if got := clean(tc.in, false); got != tc.single {
			t.Errorf("clean(%q, single) = %q, want %q", tc.in, got, tc.single)
		}
	}
}
