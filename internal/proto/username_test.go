package proto

import (
	"testing"
)

// A username is never read as a command-line flag: it starts with a
// letter or digit.
func TestValidUsername(t *testing.T) {
	for name, want := range map[string]bool{
		"alice": true, "bob_2": true, "a-b": true, "007": true, "x-_": true,
		"ab": false, "-dash": false, "_under": false, "--help": false, "Alice": false,
		"al ce": false, "thirty-three-characters-long-name": false, "thirty-two-characters-long-name1": true,
	} {
		if got := ValidUsername(name); got != want {
			t.Errorf("ValidUsername(%q) = %v, want %v", name, got, want)
		}
	}
}
