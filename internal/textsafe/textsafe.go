// Package textsafe makes text that came from someone else safe to print
// on a terminal. A terminal obeys the escape sequences embedded in what it
// prints: a peer's message, file name, group name or join note left raw
// could clear the screen, retitle the window, write the clipboard
// (OSC 52), move the cursor to forge lines, or reorder a line with
// bidirectional overrides. Every function here is pure and safe for
// concurrent use.
package textsafe

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Unsafe reports whether r must not reach a terminal as is: the C0
// controls (newline included; callers that keep line breaks handle it
// first), DEL, the C1 controls U+0080–U+009F, and the explicit
// directional formatting characters (embeddings, overrides, isolates and
// the invisible direction marks) that display text in another order than
// it was sent in.
func Unsafe(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) ||
		r == 0x200e || r == 0x200f || r == 0x061c
}

// Line returns s as one printable line: every unsafe character, newline
// included, is shown visibly as an escape (\x1b, \n, \u202e), and so is
// each byte of invalid UTF-8 (\xff), which some terminals read as a C1
// control. A backslash stays a backslash: the escapes are for the eye,
// not for decoding.
func Line(s string) string { return escape(s, false) }

// Text is Line for text whose line breaks are meaningful (message
// bodies): newlines stay, everything else unsafe is escaped.
func Text(s string) string { return escape(s, true) }

func escape(s string, keepNewlines bool) string {
	if clean(s, keepNewlines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' && keepNewlines:
			b.WriteByte('\n')
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80 && Unsafe(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case Unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// clean reports whether s needs no escaping (the common case: no copy).
func clean(s string, keepNewlines bool) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || (Unsafe(r) && !(keepNewlines && r == '\n')) {
			return false
		}
		i += n
	}
	return true
}

// Indent is Text for a message printed after a "sender: " prefix: every
// line after the first starts with prefix, so a newline in the text cannot
// start a line that looks like another message.
func Indent(s, prefix string) string {
	return strings.ReplaceAll(Text(s), "\n", "\n"+prefix)
}

// Strip is the variant for a screen that draws text itself (the chat
// screen): unsafe characters are dropped instead of shown, tabs become
// four spaces, invalid UTF-8 becomes U+FFFD, and newlines stay only when
// multiline is set (else they become spaces).
func Strip(s string, multiline bool) string {
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
		case Unsafe(r):
			// dropped
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
