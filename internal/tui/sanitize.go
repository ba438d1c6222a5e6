package tui

import "strings"

// clean makes text that came from outside safe to draw. The peer chooses
// message text, and a terminal obeys escape sequences embedded in what it
// prints: left in, they could retitle the window, clear the screen, move
// the cursor to forge lines ("bob: I agree"), or on some terminals write
// files or the clipboard. So every C0 and C1 control character goes (ESC,
// BEL, CR, backspace, DEL, CSI …), tabs become spaces, invalid UTF-8
// becomes U+FFFD, and bidirectional overrides go too, since they let text
// display in an order other than the one it was sent in. Newlines survive
// only when multiline is set.
func clean(s string, multiline bool) string {
	var b strings.Builder
	b.Grow(len(s))
	// Ranging over a string already yields U+FFFD for each invalid byte.
	for _, r := range s {
		switch {
		case r == '\n':
			if multiline {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		case r == '\t':
			b.WriteString("    ")
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
			// control character: dropped
		case isBidiControl(r):
			// dropped
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isBidiControl reports the explicit directional formatting characters
// (embeddings, overrides and isolates) that reorder displayed text.
func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) ||
		r == 0x200e || r == 0x200f || r == 0x061c
}
