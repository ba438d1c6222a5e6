package tui

import (
	"strings"
	"unicode"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// lineInput is the one-line editor at the bottom of the screen, with the
// usual readline keys. (The bubbles text input would pull in a clipboard
// module this build does not carry; a chat line needs little of it.)
type lineInput struct {
	value []rune
	pos   int // cursor, as an index into value
}

// Value is the text typed so far.
func (l *lineInput) Value() string { return string(l.value) }

// Reset empties the line.
func (l *lineInput) Reset() { l.value, l.pos = nil, 0 }

// Insert puts s at the cursor. Pasted line breaks become spaces and other
// control characters are dropped: the line stays one line.
func (l *lineInput) Insert(s string) {
	r := []rune(clean(strings.ReplaceAll(s, "\r\n", "\n"), false))
	l.value = append(l.value[:l.pos], append(r, l.value[l.pos:]...)...)
	l.pos += len(r)
}

// Key applies an editing key and reports whether it was one.
func (l *lineInput) Key(k tea.KeyPressMsg) bool {
	switch k.String() {
	case "backspace", "ctrl+h":
		if l.pos > 0 {
			l.value = append(l.value[:l.pos-1], l.value[l.pos:]...)
			l.pos--
		}
	case "delete", "ctrl+d":
		if l.pos < len(l.value) {
			l.value = append(l.value[:l.pos], l.value[l.pos+1:]...)
		}
	case "left", "ctrl+b":
		l.pos = max(l.pos-1, 0)
	case "right", "ctrl+f":
		l.pos = min(l.pos+1, len(l.value))
	case "home", "ctrl+a":
		l.pos = 0
	case "end", "ctrl+e":
		l.pos = len(l.value)
	case "ctrl+u":
		l.value, l.pos = l.value[l.pos:], 0
	case "ctrl+k":
		l.value = l.value[:l.pos]
	case "ctrl+w", "alt+backspace", "ctrl+backspace":
		start := l.wordStart()
		l.value, l.pos = append(l.value[:start], l.value[l.pos:]...), start
	case "alt+left", "ctrl+left", "alt+b":
		l.pos = l.wordStart()
	case "alt+right", "ctrl+right", "alt+f":
		l.pos = l.wordEnd()
	default:
		if k.Text == "" || k.Mod&(tea.ModCtrl|tea.ModAlt) != 0 {
			return false
		}
		l.Insert(k.Text)
	}
	return true
}

// wordStart is where the word before the cursor begins.
func (l *lineInput) wordStart() int {
	i := l.pos
	for i > 0 && unicode.IsSpace(l.value[i-1]) {
		i--
	}
	for i > 0 && !unicode.IsSpace(l.value[i-1]) {
		i--
	}
	return i
}

// wordEnd is where the word after the cursor ends.
func (l *lineInput) wordEnd() int {
	i := l.pos
	for i < len(l.value) && unicode.IsSpace(l.value[i]) {
		i++
	}
	for i < len(l.value) && !unicode.IsSpace(l.value[i]) {
		i++
	}
	return i
}

// View draws the line in width cells after prompt (or placeholder when
// empty) and returns the cursor's column. A line longer than the screen
// scrolls so that the cursor stays in view.
func (l *lineInput) View(prompt, placeholder string, width int) (string, int) {
	pw := ansi.StringWidth(prompt)
	avail := max(width-pw-1, 1)
	if len(l.value) == 0 {
		return prompt + styleDim.Render(ansi.Truncate(placeholder, avail, "…")), pw
	}
	// Walk out from the cursor: as much before it as fits, then after it.
	start, used := l.pos, 0
	for start > 0 && used+runeWidth(l.value[start-1]) <= avail {
		start--
		used += runeWidth(l.value[start])
	}
	cursor := pw + used
	end := l.pos
	for end < len(l.value) && used+runeWidth(l.value[end]) <= avail {
		used += runeWidth(l.value[end])
		end++
	}
	return prompt + string(l.value[start:end]), cursor
}

func runeWidth(r rune) int { return ansi.StringWidth(string(r)) }
