package tui

import "github.com/hush-chat/hush/internal/textsafe"

// clean makes text that came from outside safe to draw: the peer chooses
// message text, and a terminal obeys escape sequences embedded in what it
// prints. Control characters and bidirectional overrides are dropped, tabs
// become spaces, and newlines survive only when multiline is set
// (textsafe.Strip).
func clean(s string, multiline bool) string { return textsafe.Strip(s, multiline) }
