package arch

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// clientForbidden lists what a program that embeds the client must not
// link, by import path prefix, with the reason. The SQLite driver is
// allowed for now: the client's own profile store uses it.
var clientForbidden = []struct{ prefix, why string }{
	{module + "internal/server", "client and server share only internal/proto"},
	{"github.com/mochi-mqtt/", "the MQTT broker is the server's"},
	{"github.com/prometheus/", "metrics are the server's (and register globally)"},
	{"github.com/jackc/", "the PostgreSQL driver is the server's"},
	{"net/smtp", "only the server sends e-mail"},
	{"html/template", "only the server renders pages"},
}

// goTool returns the go command: the one on PATH, else $GOROOT/bin/go.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("no go command on PATH or in $GOROOT/bin: the dependency checks need it")
	return ""
}

// depGraph returns, for pkg and every package it depends on, its direct
// imports (go list -deps).
func depGraph(t *testing.T, pkg string) map[string][]string {
	t.Helper()
	cmd := exec.Command(goTool(t), "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr.Bytes())
	}
	g := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			g[f[0]] = f[1:]
		}
	}
	if _, ok := g[pkg]; !ok {
		t.Fatalf("go list -deps %s does not list the package itself", pkg)
	}
	return g
}

// chain returns the shortest import chain from root to target in g.
func chain(g map[string][]string, root, target string) []string {
	prev := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == target {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append([]string{p}, path...)
			}
			return path
		}
		for _, im := range g[p] {
			if _, seen := prev[im]; !seen {
				prev[im] = p
				queue = append(queue, im)
			}
		}
	}
	return nil
}

// forbiddenDeps returns one error line per forbidden package in the
// dependencies of pkg, naming the chain that pulls it in.
func forbiddenDeps(g map[string][]string, pkg string) []string {
	var bad []string
	for dep := range g {
		for _, f := range clientForbidden {
			if dep == f.prefix || strings.HasPrefix(dep, strings.TrimSuffix(f.prefix, "/")+"/") {
				bad = append(bad, dep+" ("+f.why+"): "+strings.Join(chain(g, pkg, dep), " -> "))
				break
			}
		}
	}
	slices.Sort(bad)
	return bad
}

// The client library, and so every program that embeds it, links no
// server package, broker, metrics, mailer, template engine or server
// database driver.
func TestClientLinksNoServerCode(t *testing.T) {
	for _, pkg := range []string{strings.TrimSuffix(module, "/"), module + "internal/apiclient"} {
		for _, line := range forbiddenDeps(depGraph(t, pkg), pkg) {
			t.Errorf("%s depends on %s", pkg, line)
		}
	}
}

// The check itself finds a forbidden dependency and names its chain: the
// server package links the broker.
func TestForbiddenDepsNamesTheChain(t *testing.T) {
	pkg := module + "internal/server/relay"
	bad := forbiddenDeps(depGraph(t, pkg), pkg)
	found := false
	for _, line := range bad {
		if strings.HasPrefix(line, "github.com/mochi-mqtt/server/v2 ") &&
			strings.Contains(line, pkg+" -> github.com/mochi-mqtt/server/v2") {
			found = true
		}
	}
	if !found {
		t.Fatalf("the broker under %s was not reported with its chain: %q", pkg, bad)
	}
}

// internal/proto is the contract both sides import: it imports only the
// standard library and the protocol core, never the client or the server.
func TestProtoImportsOnlyTheCore(t *testing.T) {
	core := map[string]bool{}
	for _, p := range corePackages {
		core[module+"internal/"+p] = true
	}
	for _, im := range imports(t, "proto") {
		if strings.HasPrefix(im, module) && !core[im] {
			t.Errorf("internal/proto imports %s: it may import only the protocol core", im)
		}
		if !strings.HasPrefix(im, module) && strings.Contains(strings.SplitN(im, "/", 2)[0], ".") {
			t.Errorf("internal/proto imports %s: it may import only the standard library and the core", im)
		}
	}
}

// The client library registers no Prometheus metrics: a metric registered
// on the default registry at import would show up in, and could collide
// with, the embedding application's own metrics.
func TestClientRegistersNoMetrics(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files at the module root (%v)", err)
	}
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
			if p, _ := strconv.Unquote(im.Path.Value); strings.Contains(p, "prometheus") {
				t.Errorf("%s imports %s", filepath.Base(f), p)
			}
		}
		for _, s := range []string{"DefaultRegisterer", "MustRegister(", "promauto"} {
			if bytes.Contains(src, []byte(s)) {
				t.Errorf("%s uses %s: the client registers no metrics", filepath.Base(f), s)
			}
		}
	}
}
