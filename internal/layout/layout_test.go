// Package layout holds the test that keeps docs/DESIGN.md's import rules true: data flows
// one way and the leaves import no project package.
package layout

import (
	"encoding/json"
	"io"
	"os/exec"
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
	"api":                   {"catalog", "jobs", "pipeline", "imaging", "fetch", "storage", "sdclient", "auth", "api/console", "manifest", "checks"},
	"jobs":                  {"catalog", "pipeline", "imaging", "db", "storage", "fetch", "sdclient", "manifest", "checks"},
	"catalog":               {"pipeline", "imaging", "sdclient", "storage", "fetch", "db", "checks", "safety", "promptpolicy"},
	"pipeline":              {"imaging", "sdclient", "checks"},
	"internal/testenv":      {},
	"internal/waitfor":      {},
	// Leaves: imaging, sdclient, sdclient/sdtest, storage, fetch, db, auth, manifest, api/console,
	// checks, safety, safety/safetytest, promptpolicy.

	// The manifest benchmark reads hostile manifests with the package's reader.
	"benchmarks/manifestbench": {"manifest"},
	// The cut-out benchmark scores imaging's classic matte on its labelled set.
	"benchmarks/cutoutbench": {"imaging"},
	// The selection benchmark times the catalog's selections on a bulk-loaded PostgreSQL.
	"benchmarks/selectbench": {"catalog", "db", "fetch", "imaging", "storage"},
}

func TestImportsFlowOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
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
