package arch

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/hush-chat/hush/"

// corePackages are pure: no network, disk or wall clock. Tests of these
// packages may use anything; their non-test files may not.
var corePackages = []string{"wire", "chainkey", "identity", "pqxdh", "ratchet", "session", "envelope", "stream", "group", "sealed", "tagged", "backup", "shamir", "provision"}

// forbidden lists standard packages a core package must not import, with
// the reason.
var forbidden = map[string]string{
	"net":          "network",
	"net/http":     "network",
	"os":           "disk",
	"io/fs":        "disk",
	"os/exec":      "processes",
	"syscall":      "system calls",
	"time":         "wall clock (take times as parameters)",
	"math/rand":    "non-cryptographic randomness",
	"math/rand/v2": "non-cryptographic randomness",
	"log":          "logging (secrets must never be logged)",
	"log/slog":     "logging (secrets must never be logged)",
}

// imports returns the imports of the non-test Go files of internal/<pkg>.
func imports(t *testing.T, pkg string) []string {
	t.Helper()
	dir := filepath.Join("..", pkg)
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s (%v)", dir, err)
	}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			out = append(out, p)
		}
	}
	return out
}

func TestCorePackagesArePure(t *testing.T) {
	core := map[string]bool{}
	for _, p := range corePackages {
		core[p] = true
	}
	for _, pkg := range corePackages {
		for _, im := range imports(t, pkg) {
			if why, bad := forbidden[im]; bad {
				t.Errorf("internal/%s imports %s: core packages must not use %s", pkg, im, why)
			}
			if rest, ok := strings.CutPrefix(im, module+"internal/"); ok && !core[rest] {
				t.Errorf("internal/%s imports non-core internal/%s", pkg, rest)
			}
			if strings.Contains(im, ".") && !strings.HasPrefix(im, module) && !strings.HasPrefix(im, "golang.org/x/crypto/") &&
				!(pkg == "backup" && strings.HasPrefix(im, "github.com/cloudflare/circl/")) {
				t.Errorf("internal/%s imports %s: crypto code depends only on the standard library, x/crypto and (for the RFC 9497 OPRF of backups) circl", pkg, im)
			}
		}
	}
}
