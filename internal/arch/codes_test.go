package arch

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// protoCodes returns the values of the Code constants of internal/proto.
func protoCodes(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "proto", "errors.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && strings.HasPrefix(n.Name, "Code") {
					v, _ := strconv.Unquote(lit.Value)
					codes[v] = true
				}
			}
		}
	}
	if len(codes) == 0 {
		t.Fatal("no Code constants in internal/proto/errors.go")
	}
	return codes
}

// serverCode finds an error code the server writes as a literal.
var serverCode = regexp.MustCompile(`Errorf\(http\.\w+, "([a-z_]+)"|Code: +"([a-z_]+)"`)

// Every error code the server answers with is declared in internal/proto,
// so the client has one list to read codes from.
func TestServerErrorCodesAreInProto(t *testing.T) {
	codes := protoCodes(t)
	seen := 0
	err := filepath.WalkDir(filepath.Join("..", "server"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range serverCode.FindAllSubmatch(src, -1) {
			code := string(m[1]) + string(m[2])
			seen++
			if !codes[code] {
				t.Errorf("%s answers with error code %q, which internal/proto does not declare", path, code)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("found no error code in internal/server: the pattern no longer matches the code")
	}
}
