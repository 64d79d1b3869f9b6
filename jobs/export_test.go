package jobs

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/internal/testenv"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/storage"
)

// URLManifest is a CSV manifest of n rows, base + "/img/<i>.jpg" (for the tests of
// package jobs_test too).
func URLManifest(base string, n int) string {
	var csv strings.Builder
	csv.WriteString("url\n")
	for i := range n {
		fmt.Fprintf(&csv, "%s/img/%d.jpg\n", base, i)
	}
	return csv.String()
}

// OpenTestCatalog opens a fresh database of the dialect ("sqlite" or "postgres") with a local
// store and an initialised catalog (cfg, sd) on it, whose fetcher may reach loopback when
// loopback is set; the database closes with the test.
func OpenTestCatalog(t *testing.T, dialect string, loopback bool, cfg catalog.Config, sd *pipeline.SD) (*db.DB, *catalog.Service) {
	t.Helper()
	ctx := context.Background()
	d, dir := openTestDB(t, dialect)
	st, err := storage.NewLocal(storage.LocalConfig{Dir: filepath.Join(dir, "objects")})
	if err != nil {
		t.Fatal(err)
	}
	fc := fetch.DefaultConfig()
	if loopback {
		fc.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	f, err := fetch.New(fc)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New(cfg, catalog.Deps{DB: d, Store: st, Fetcher: f, Gate: imaging.NewGate(2, 64), SD: sd, Links: testLinks{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return d, cat
}

// openTestDB opens a fresh, unmigrated database of the dialect, closed with the test, and
// returns it with a temporary directory for the test's files.
func openTestDB(t *testing.T, dialect string) (*db.DB, string) {
	t.Helper()
	dc := db.DefaultConfig()
	dc.DataDir = t.TempDir()
	if dialect == "postgres" {
		dc.URL = testenv.FreshPostgres(t)
	}
	d, err := db.Open(context.Background(), dc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dc.DataDir
}

// testLinks stand in for the API's routes (catalog.Links) in the jobs' tests.
type testLinks struct{}

func (testLinks) RenditionContent(id string) string { return "test:/renditions/" + id }
func (testLinks) ImageContent(id string) string     { return "test:/images/" + id }
func (testLinks) ScenePreview(id string, v int64) string {
	return "test:/scenes/" + id + "/preview/" + strconv.FormatInt(v, 10)
}
