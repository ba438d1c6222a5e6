// Package examples holds no code of its own: its test builds the example
// programs as a module outside hush would, so an example (or the API it
// uses) that only works from inside the module fails here.
package examples

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const modulePath = "github.com/hush-chat/hush"

// copied are the programs the outside module builds; quickstart also runs.
var copied = []string{"quickstart", "echobot", "sealrows"}

// quickstartOutput is what `go run ./examples/quickstart` prints (the
// quickstart's own test checks the same text).
const quickstartOutput = `server started
alice and bob registered
alice -> bob: Hello Bob, this is end-to-end encrypted.
bob -> alice: Hi Alice! Only the two of us can read this.
`

// TestExamplesImportOnlyPublicPackages reads the imports of every example
// program: an internal package works inside this module and fails for
// everyone who copies the example, and hushtest belongs in tests.
func TestExamplesImportOnlyPublicPackages(t *testing.T) {
	files, err := filepath.Glob("*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if bad := forbiddenImports(t, f); len(bad) > 0 {
			t.Errorf("%s imports %s: examples use only public packages", f, strings.Join(bad, ", "))
		}
		checked++
	}
	if checked < len(copied) {
		t.Fatalf("checked %d example files, want at least %d", checked, len(copied))
	}
}

func forbiddenImports(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, is := range f.Imports {
		p, _ := strconv.Unquote(is.Path.Value)
		if isInternal(p) || p == modulePath+"/hushtest" {
			bad = append(bad, p)
		}
	}
	return bad
}

// isInternal reports an import path with an "internal" element, which Go
// refuses to import from another module.
func isInternal(p string) bool {
	return strings.HasPrefix(p, "internal/") || strings.Contains(p, "/internal/") || strings.HasSuffix(p, "/internal")
}

func TestIsInternal(t *testing.T) {
	for p, want := range map[string]bool{
		modulePath + "/internal/server": true, modulePath + "/internal": true,
		modulePath: false, modulePath + "/server": false, "example.com/internals": false,
	} {
		if isInternal(p) != want {
			t.Errorf("isInternal(%q) = %v", p, !want)
		}
	}
}

// TestExamplesBuildInAnotherModule makes a module example.com/app that
// requires hush (replaced by this checkout), copies the examples into it,
// tidies, builds, and runs the quickstart.
func TestExamplesBuildInAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a separate module")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	app := t.TempDir()
	for _, name := range copied {
		src, err := os.ReadFile(filepath.Join(name, "main.go"))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(app, name, "main.go"), src)
	}
	gomod := "module example.com/app\n\n" + goDirective(t, root) +
		"\nrequire " + modulePath + " v0.0.0\n\nreplace " + modulePath + " => " + root + "\n"
	writeFile(t, filepath.Join(app, "go.mod"), []byte(gomod))
	// hush's own go.sum has the checksum of every module the app can
	// need; with it, tidy works from the module cache alone.
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(app, "go.sum"), sum)

	// -e: tidy also looks for the modules that the tests of hush's
	// dependencies import (go-cmp, yaml, …), which a build never needs
	// and an offline module cache may lack. The build below fails on
	// anything the programs do need.
	goCmd(t, app, "mod", "tidy", "-e")
	goCmd(t, app, "build", "./...")
	if out := goCmd(t, app, "run", "./quickstart"); out != quickstartOutput {
		t.Fatalf("go run ./quickstart printed:\n%s\nwant:\n%s", out, quickstartOutput)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// goDirective returns the "go" line of the checkout's go.mod.
func goDirective(t *testing.T, root string) string {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		if strings.HasPrefix(l, "go ") {
			return l
		}
	}
	t.Fatal("no go directive in go.mod")
	return ""
}

// goCmd runs the go command in dir, offline (only the module cache), and
// returns its standard output; it fails the test if the command fails.
func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off", "GOSUMDB=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
