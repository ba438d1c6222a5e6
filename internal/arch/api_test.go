package arch

import (
	"encoding/json"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSDKExportsOnlyItsOwnTypes type-checks package hush and fails naming
// every exported function, method, field, variable, constant or type whose
// signature mentions a type of a package under internal/: a program that
// imports the SDK cannot name such a type, so an API that hands one out
// is unusable (and pins the internals as public API).
func TestSDKExportsOnlyItsOwnTypes(t *testing.T) {
	pkg := loadSDK(t)
	var bad []string
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch o := obj.(type) {
		case *types.TypeName:
			if o.IsAlias() {
				if p := internalIn(o.Type(), nil); p != "" {
					bad = append(bad, "type "+name+" is an alias of a type of "+p)
				}
				continue
			}
			named, ok := o.Type().(*types.Named)
			if !ok {
				continue
			}
			if st, ok := named.Underlying().(*types.Struct); ok {
				for f := range st.Fields() {
					if f.Exported() {
						if p := internalIn(f.Type(), nil); p != "" {
							bad = append(bad, "field "+name+"."+f.Name()+" mentions "+p)
						}
					}
				}
			} else if it, ok := named.Underlying().(*types.Interface); ok {
				for m := range it.Methods() {
					if p := internalIn(m.Type(), nil); p != "" {
						bad = append(bad, "interface method "+name+"."+m.Name()+" mentions "+p)
					}
				}
			} else if p := internalIn(named.Underlying(), nil); p != "" {
				bad = append(bad, "type "+name+" is defined on "+p)
			}
			for m := range named.Methods() {
				if m.Exported() {
					if p := internalIn(m.Type(), nil); p != "" {
						bad = append(bad, "method "+name+"."+m.Name()+" mentions "+p)
					}
				}
			}
		default:
			if p := internalIn(o.Type(), nil); p != "" {
				bad = append(bad, objKind(o)+" "+name+" mentions "+p)
			}
		}
	}
	for _, b := range bad {
		t.Error(b)
	}
}

func objKind(o types.Object) string {
	switch o.(type) {
	case *types.Func:
		return "func"
	case *types.Var:
		return "var"
	case *types.Const:
		return "const"
	}
	return "object"
}

// internalIn returns the path of the first internal package a type
// mentions, or "". Exported fields of unexported struct types count too:
// a caller can reach them.
func internalIn(t types.Type, seen map[types.Type]bool) string {
	if seen == nil {
		seen = map[types.Type]bool{}
	}
	if seen[t] {
		return ""
	}
	seen[t] = true
	switch t := t.(type) {
	case *types.Alias:
		return internalIn(types.Unalias(t), seen)
	case *types.Named:
		if p := t.Obj().Pkg(); p != nil && isInternal(p.Path()) {
			return p.Path() + "." + t.Obj().Name()
		}
		for a := range t.TypeArgs().Types() {
			if p := internalIn(a, seen); p != "" {
				return p
			}
		}
		return ""
	case *types.Pointer:
		return internalIn(t.Elem(), seen)
	case *types.Slice:
		return internalIn(t.Elem(), seen)
	case *types.Array:
		return internalIn(t.Elem(), seen)
	case *types.Map:
		if p := internalIn(t.Key(), seen); p != "" {
			return p
		}
		return internalIn(t.Elem(), seen)
	case *types.Chan:
		return internalIn(t.Elem(), seen)
	case *types.Signature:
		for _, tup := range []*types.Tuple{t.Params(), t.Results()} {
			for v := range tup.Variables() {
				if p := internalIn(v.Type(), seen); p != "" {
					return p
				}
			}
		}
	case *types.Struct:
		for f := range t.Fields() {
			if f.Exported() {
				if p := internalIn(f.Type(), seen); p != "" {
					return p
				}
			}
		}
	case *types.Interface:
		for m := range t.Methods() {
			if p := internalIn(m.Type(), seen); p != "" {
				return p
			}
		}
	}
	return ""
}

func isInternal(path string) bool {
	return strings.HasPrefix(path, strings.TrimSuffix(module, "/")+"/internal/")
}

// loadSDK type-checks the non-test files of the module root against the
// export data the go command builds for its dependencies.
func loadSDK(t *testing.T) *types.Package {
	t.Helper()
	root := filepath.Join("..", "..")
	cmd := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Export", ".")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	exports := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct{ ImportPath, Export string }
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
	}
	// The files the go command builds here (lock_other.go is not one).
	cmd = exec.Command("go", "list", "-f", "{{range .GoFiles}}{{.}}\n{{end}}", ".")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	names, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	fset := token.NewFileSet()
	var parsed []*ast.File
	for _, f := range strings.Fields(string(names)) {
		af, err := parser.ParseFile(fset, filepath.Join(root, f), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, af)
	}
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, os.ErrNotExist
		}
		return os.Open(f)
	})
	conf := types.Config{Importer: imp}
	pkg, err := conf.Check(strings.TrimSuffix(module, "/"), fset, parsed, nil)
	if err != nil {
		t.Fatalf("type-checking package hush: %v", err)
	}
	return pkg
}

// TestCLIUsesOnlyTheSDK keeps the CLI and the terminal UI on the public
// SDK: what they need of the protocol core and the client's plumbing, the
// SDK must offer (the CLI is the proof that it is complete).
func TestCLIUsesOnlyTheSDK(t *testing.T) {
	banned := []string{"group", "identity", "apiclient", "localstore", "envelope", "session", "ratchet", "pqxdh", "stream", "chainkey", "wire"}
	for _, pkg := range []string{"cli", "tui"} {
		for _, imp := range imports(t, pkg) {
			for _, b := range banned {
				if imp == module+"internal/"+b {
					t.Errorf("internal/%s imports %s: use package hush", pkg, imp)
				}
			}
		}
	}
}
