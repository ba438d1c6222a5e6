package server

import (
	"os"
	"strings"
	"testing"
)

// Every setting an operator can give is in doc/OPERATIONS.md's table: a
// new setting without its line there fails here.
func TestEverySettingIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../doc/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(envSettings) < 40 {
		t.Fatalf("only %d settings found in Config", len(envSettings))
	}
	for _, s := range envSettings {
		if !strings.Contains(string(doc), "`"+s.key+"`") {
			t.Errorf("setting %s is not in doc/OPERATIONS.md", s.key)
		}
	}
}
