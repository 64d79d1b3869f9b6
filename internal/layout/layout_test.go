// Package layout holds the tests that keep docs/DESIGN.md's import rules true: data flows
// one way, the leaves import no project package, and the test-only dependencies stay in the
// nested modules (deploy, internal/consoletest) out of the service's module graph.
package layout

import (
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/pictor/pictor/"

// allowed lists, for each package, the project packages it may import directly.
// A package missing from the list may import nothing of the project.
var allowed = map[string][]string{
	"cmd/pictor": {"*"},
	"cmd/sdstub": {"sdclient/sdtest"},
	// The checks benchmark runs the pipeline in-process, as the service does.
	"benchmarks/checkbench": {"imaging", "pipeline", "sdclient"},
	"api":                   {"catalog", "jobs", "pipeline", "imaging", "fetch", "storage", "sdclient", "auth", "api/console", "manifest", "checks", "fault"},
	"jobs":                  {"catalog", "pipeline", "imaging", "db", "storage", "fetch", "sdclient", "manifest", "checks", "fault"},
	"catalog":               {"pipeline", "imaging", "sdclient", "storage", "fetch", "db", "checks", "safety", "promptpolicy", "fault"},
	"pipeline":              {"imaging", "sdclient", "checks", "fault"},
	"internal/testenv":      {},
	"internal/waitfor":      {},
	// Leaves: imaging, sdclient, sdclient/sdtest, storage, fetch, db, auth, manifest, api/console,
	// checks, safety, safety/safetytest, promptpolicy, fault (the core's error vocabulary).

	// The manifest benchmark reads hostile manifests with the package's reader.
	"benchmarks/manifestbench": {"manifest"},
	// The cut-out benchmark scores imaging's classic matte on its labelled set.
	"benchmarks/cutoutbench": {"imaging"},
	// The selection benchmark times the catalog's selections on a bulk-loaded PostgreSQL.
	"benchmarks/selectbench": {"catalog", "db", "fetch", "imaging", "storage"},
}

// testOnly are the module path prefixes that only the nested test modules may require: the
// deployment tests' Kubernetes, compose and Prometheus Operator types, the console tests'
// Chromium driver.
var testOnly = []string{
	"github.com/chromedp/",
	"github.com/compose-spec/",
	"github.com/prometheus-operator/",
	"k8s.io/",
	"sigs.k8s.io/",
}

// repoRoot is the root module's directory: this test runs in internal/layout.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.HasPrefix(string(b), "module "+strings.TrimSuffix(module, "/")+"\n") {
		t.Fatalf("%s is not the root of %s (go.mod: %v)", root, module, err)
	}
	return root
}

// nestedModules are the directories below the root, relative to it, that hold a go.mod of
// their own: go list ./... in the root module does not see their packages.
func nestedModules(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.Name() == "go.mod" && filepath.Dir(p) != root {
			rel, err := filepath.Rel(root, filepath.Dir(p))
			if err != nil {
				return err
			}
			dirs = append(dirs, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// goIn runs the go command in dir and returns its standard output.
func goIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return string(out)
}

func TestImportsFlowOneWay(t *testing.T) {
	root := repoRoot(t)
	nested := nestedModules(t, root)
	if len(nested) == 0 {
		t.Fatal("found no nested module: the deployment and console tests live in modules of their own")
	}
	// The root module's packages, then each nested module's, which must be named by
	// their place in the tree so that allowed reads the same for both.
	out := goIn(t, root, "list", "-json=ImportPath,Imports", "./...")
	for _, dir := range nested {
		if got, want := strings.TrimSpace(goIn(t, filepath.Join(root, dir), "list", "-m")), module+dir; got != want {
			t.Errorf("%s/go.mod: module %s, want %s", dir, got, want)
		}
		out += goIn(t, filepath.Join(root, dir), "list", "-json=ImportPath,Imports", "./...")
	}
	dec := json.NewDecoder(strings.NewReader(out))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		name := strings.TrimPrefix(p.ImportPath, module)
		ok := map[string]bool{}
		for _, a := range allowed[name] {
			ok[a] = true
		}
		for _, imp := range p.Imports {
			dep, mine := strings.CutPrefix(imp, module)
			if !mine || ok["*"] || ok[dep] || strings.HasPrefix(dep, "internal/") && name == "cmd/pictor" {
				continue
			}
			t.Errorf("%s imports %s: not allowed by docs/DESIGN.md's layout", name, dep)
		}
	}
	if seen < 8 {
		t.Fatalf("go list saw %d packages: the check is not looking at the project", seen)
	}
}

// TestTestOnlyModulesStayNested keeps the service's module graph free of what only the
// nested test modules need: a test in the root module that imported one of them would pull it
// back into go.mod.
func TestTestOnlyModulesStayNested(t *testing.T) {
	root := repoRoot(t)
	graph := goIn(t, root, "mod", "graph")
	edges := 0
	reported := map[string]bool{}
	for line := range strings.Lines(graph) {
		edges++
		for _, m := range strings.Fields(line) {
			path, _, _ := strings.Cut(m, "@")
			for _, p := range testOnly {
				if strings.HasPrefix(path, p) && !reported[path] {
					reported[path] = true
					t.Errorf("the root module's graph holds %s (%s): only a nested module may require it", m, strings.TrimSpace(line))
				}
			}
		}
	}
	if edges < 10 {
		t.Fatalf("go mod graph printed %d edges: the check is not looking at the project", edges)
	}
	// And each nested module does hold one of them, or the list above has gone stale.
	for _, dir := range nestedModules(t, root) {
		mods := goIn(t, filepath.Join(root, dir), "list", "-m", "all")
		found := false
		for _, p := range testOnly {
			found = found || strings.Contains(mods, "\n"+p)
		}
		if !found {
			t.Errorf("%s requires none of testOnly %v: list there what it keeps out of the service, or fold it back into the root module", dir, testOnly)
		}
	}
}
