package shamir

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The package is pure and small in its dependencies: its non-test files
// import only the standard library, and nothing of the network, the disk,
// the clock, logging or non-cryptographic randomness. (internal/arch checks
// the same for the core packages it lists.)
func TestImportsArePure(t *testing.T) {
	forbidden := []string{"net", "os", "io/fs", "syscall", "time", "log", "math/rand", "unsafe"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s: only the standard library is allowed", f, p)
			}
			for _, bad := range forbidden {
				if p == bad || strings.HasPrefix(p, bad+"/") {
					t.Errorf("%s imports %s", f, p)
				}
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}
