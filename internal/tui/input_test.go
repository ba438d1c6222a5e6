package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

func keys(l *lineInput, ks ...tea.KeyPressMsg) {
	for _, k := range ks {
		l.Key(k)
	}
}

func typed(s string) tea.KeyPressMsg {
	r := []rune(s)
	return tea.KeyPressMsg{Code: r[0], Text: s}
}

func TestLineInputEditing(t *testing.T) {
	var l lineInput
	keys(&l, typed("h"), typed("é"), typed("llo"), typed(" "), typed("wörld"))
	if got := l.Value(); got != "héllo wörld" {
		t.Fatalf("typed %q", got)
	}
	keys(&l, tea.KeyPressMsg{Code: tea.KeyBackspace})
	keys(&l, tea.KeyPressMsg{Code: tea.KeyHome}, tea.KeyPressMsg{Code: tea.KeyDelete})
	if got := l.Value(); got != "éllo wörl" {
		t.Fatalf("after backspace and delete: %q", got)
	}
	keys(&l, tea.KeyPressMsg{Code: tea.KeyEnd}, tea.KeyPressMsg{Code: 'w', Mod: tea.ModCtrl})
	if got := l.Value(); got != "éllo " {
		t.Fatalf("after ctrl+w: %q", got)
	}
	keys(&l, tea.KeyPressMsg{Code: tea.KeyLeft}, typed("!"))
	if got := l.Value(); got != "éllo! " {
		t.Fatalf("insert after left: %q", got)
	}
	keys(&l, tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	if got := l.Value(); got != " " {
		t.Fatalf("after ctrl+u: %q", got)
	}
	if l.Key(tea.KeyPressMsg{Code: 'x', Mod: tea.ModCtrl}) {
		t.Fatal("ctrl+x was taken as text")
	}
	l.Reset()
	if l.Value() != "" {
		t.Fatal("Reset left text")
	}
}

func TestLineInputPasteStaysOneLine(t *testing.T) {
	var l lineInput
	l.Insert("one\r\ntwo\nthree\x1b[2J")
	if got := l.Value(); got != "one two three[2J" {
		t.Fatalf("pasted %q", got)
	}
}

func TestLineInputScrollsToKeepCursorVisible(t *testing.T) {
	var l lineInput
	long := strings.Repeat("abcdefghij", 10) + "END"
	l.Insert(long)
	line, x := l.View("> ", "", 30)
	if w := ansi.StringWidth(line); w > 30 {
		t.Fatalf("line %d cells wide in 30", w)
	}
	if !strings.HasSuffix(line, "END") || x != ansi.StringWidth(line) {
		t.Fatalf("cursor at end not visible: %q, cursor %d", line, x)
	}
	keys(&l, tea.KeyPressMsg{Code: tea.KeyHome})
	line, x = l.View("> ", "", 30)
	if !strings.HasPrefix(line, "> abcdefghij") || x != 2 {
		t.Fatalf("cursor at start not visible: %q, cursor %d", line, x)
	}
}

func TestLineInputPlaceholder(t *testing.T) {
	var l lineInput
	line, x := l.View("> ", "type here", 40)
	if ansi.Strip(line) != "> type here" || x != 2 {
		t.Fatalf("placeholder line %q cursor %d", ansi.Strip(line), x)
	}
}
