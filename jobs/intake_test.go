package jobs_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
)

// manifestFiles serves each path's body with its Content-Type; other paths are 404.
func manifestFiles(t *testing.T, files map[string][2]string) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		f, ok := files[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f[1])
		fmt.Fprint(w, f[0])
	}))
	t.Cleanup(srv.Close)
	return srv
}

// xlsxManifest is a workbook whose sheet has a url and an sku column, n rows.
func xlsxManifest(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := manifest.NewWriter(&b, manifest.XLSX)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Write(manifest.Result{Row: i + 2, Source: fmt.Sprintf("http://img.example/%d.jpg", i), SKU: fmt.Sprintf("X-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A batch's manifest has one intake, in jobs: a URL is fetched there, and the format of a
// fetched or an uploaded manifest comes from its name, its content type or its first
// bytes; its rows go in, 500 at a time, with duplicates counted across the chunks.
func TestBatchIntake(t *testing.T) {
	t.Parallel()
	const jsonl = "{\"url\":\"http://img.example/1.jpg\",\"sku\":\"A\"}\n{\"url\":\"http://img.example/2.jpg\",\"sku\":\"B\",\"colour\":\"red\"}\n"
	// 1,200 rows, every fourth repeating the row before it, then row 0 again five times
	// (duplicates in other chunks) and one bad row: 900 items, 305 duplicates.
	var big strings.Builder
	big.WriteString("url,sku,colour\n")
	for i := range 1200 {
		id := i
		if i%4 == 3 {
			id = i - 1
		}
		fmt.Fprintf(&big, "http://img.example/%d.jpg,S-%d,red\n", id, id)
	}
	for range 5 {
		big.WriteString("http://img.example/0.jpg,S-0,red\n")
	}
	big.WriteString(",no-url,blue\n") // row 1 + 1200 + 5 + 1
	xlsx := xlsxManifest(t, 3)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setupBatch(t, dialect)
			ctx := context.Background()
			srv := manifestFiles(t, map[string][2]string{
				"/list.jsonl": {jsonl, "text/plain"},
				"/feed":       {jsonl, "application/x-ndjson"},
				"/typed":      {jsonl, "text/csv"}, // the type says CSV: read as CSV, it has no url column
				"/sheet.csv":  {string(xlsx), "text/csv"},
				"/big.csv":    {big.String(), "text/csv"},
				"/old.xls":    {"url\nhttp://img.example/1.jpg\n", "application/vnd.ms-excel"},
			})
			recipe := catalog.RecipeRef{Inline: []byte(smallRecipe)}
			spooled := filepath.Join(t.TempDir(), "upload")
			if err := os.WriteFile(spooled, xlsx, 0o600); err != nil {
				t.Fatal(err)
			}
			batches := func() int {
				l, err := b.jobs.ListBatches(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return len(l)
			}
			type want struct {
				total, dupes, bad int
				badRow            int      // the first bad row's number, when bad > 0
				columns           []string // nil: not looked at
				err               error    // the error CreateBatch wraps; then no batch is left
			}
			cases := []struct {
				name string
				req  func() jobs.BatchRequest
				want want
			}{
				{"by url, jsonl by name", func() jobs.BatchRequest { return jobs.BatchRequest{ManifestURL: srv.URL + "/list.jsonl"} },
					want{total: 2, columns: []string{"colour"}}},
				{"by url, jsonl by content type", func() jobs.BatchRequest { return jobs.BatchRequest{ManifestURL: srv.URL + "/feed"} },
					want{total: 2, columns: []string{"colour"}}},
				{"by url, the content type honoured", func() jobs.BatchRequest { return jobs.BatchRequest{ManifestURL: srv.URL + "/typed"} },
					want{err: manifest.ErrInvalidManifest}},
				{"by url, xlsx by its bytes", func() jobs.BatchRequest { return jobs.BatchRequest{ManifestURL: srv.URL + "/sheet.csv"} },
					want{total: 3}},
				{"by url, chunks and duplicates", func() jobs.BatchRequest { return jobs.BatchRequest{ManifestURL: srv.URL + "/big.csv"} },
					want{total: 900, dupes: 305, bad: 1, badRow: 1207, columns: []string{"colour"}}},
				{"by url, a legacy workbook", func() jobs.BatchRequest { return jobs.BatchRequest{ManifestURL: srv.URL + "/old.xls"} },
					want{err: manifest.ErrUnsupportedFormat}},
				{"by url, missing", func() jobs.BatchRequest { return jobs.BatchRequest{ManifestURL: srv.URL + "/gone.csv"} },
					want{err: fetch.ErrUpstream}},
				{"upload, jsonl by name", func() jobs.BatchRequest {
					return jobs.BatchRequest{Manifest: strings.NewReader(jsonl), ManifestName: "m.jsonl", ManifestType: "application/octet-stream"}
				}, want{total: 2, columns: []string{"colour"}}},
				{"upload, the content type honoured", func() jobs.BatchRequest {
					return jobs.BatchRequest{Manifest: strings.NewReader(jsonl), ManifestType: "text/csv"}
				}, want{err: manifest.ErrInvalidManifest}},
				{"upload, a spooled xlsx by its bytes", func() jobs.BatchRequest {
					f, err := os.Open(spooled)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { f.Close() })
					return jobs.BatchRequest{Manifest: f, ManifestName: "upload.csv"}
				}, want{total: 3}},
				{"upload, over the manifest's own limits", func() jobs.BatchRequest {
					return jobs.BatchRequest{Manifest: strings.NewReader("url\n" + strings.Repeat("x", 2<<20) + "\n"), ManifestName: "m.csv"}
				}, want{err: manifest.ErrLimitExceeded}},
			}
			for _, tc := range cases {
				before := batches()
				req := tc.req()
				req.Name, req.Recipe = tc.name, recipe
				bt, err := b.jobs.CreateBatch(ctx, req)
				if tc.want.err != nil {
					if !errors.Is(err, tc.want.err) {
						t.Errorf("%s: got %v, want %v", tc.name, err, tc.want.err)
					}
					if n := batches(); n != before {
						t.Errorf("%s: %d batches after a refused manifest, want %d", tc.name, n, before)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
					continue
				}
				w := tc.want
				if bt.Total != w.total || bt.DuplicateRows != w.dupes || bt.BadRows != w.bad || w.columns != nil && !slices.Equal(bt.Columns, w.columns) ||
					w.bad > 0 && (len(bt.BadRowList) == 0 || bt.BadRowList[0].Row != w.badRow) {
					t.Errorf("%s: got total %d, duplicates %d, bad %d %v, columns %q; want %d, %d, %d (row %d), %q",
						tc.name, bt.Total, bt.DuplicateRows, bt.BadRows, bt.BadRowList, bt.Columns, w.total, w.dupes, w.bad, w.badRow, w.columns)
				}
			}

			// The API's spool budget is asked about a fetched manifest before it is read.
			var got int64
			if _, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: recipe, ManifestURL: srv.URL + "/big.csv",
				SpoolFetched: func(n int64) error { got = n; return nil }}); err != nil || got != int64(big.Len()) {
				t.Errorf("spool told %d bytes (err %v), want %d", got, err, big.Len())
			}
			busy := errors.New("spool full")
			before := batches()
			if _, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: recipe, ManifestURL: srv.URL + "/big.csv",
				SpoolFetched: func(int64) error { return busy }}); !errors.Is(err, busy) || batches() != before {
				t.Errorf("a full spool: got %v and %d batches, want %v and %d", err, batches(), busy, before)
			}
			// A URL is a manifest: not with a selection.
			if _, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: recipe, ManifestURL: srv.URL + "/big.csv",
				Selection: &catalog.Selection{}}); !errors.Is(err, catalog.ErrInvalid) {
				t.Errorf("selection and manifest url: got %v, want ErrInvalid", err)
			}
		})
	}
}

// A scheduled re-read takes the same intake: its new rows, more than a chunk of them,
// are numbered after the batch's last item in the file's order, and rows seen before
// (wherever they now sit) are left out.
func TestRefreshNumbersNewRowsAfterTheLast(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, "sqlite")
	ctx := context.Background()
	gone := httptest.NewServer(http.NotFoundHandler()) // items fail at once: no work to wait for
	t.Cleanup(gone.Close)
	src := func(i int) string { return fmt.Sprintf("%s/img/%d.jpg", gone.URL, i) }
	var (
		mu   sync.Mutex
		list []int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(w, "url")
		for _, i := range list {
			fmt.Fprintln(w, src(i))
		}
	}))
	t.Cleanup(srv.Close)
	mu.Lock()
	list = []int{0, 1}
	mu.Unlock()
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)}, Schedule: "0 * * * *",
		ManifestURL: srv.URL + "/list.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBatch(t, b, bt.ID, jobs.BatchDone)
	// 620 rows: the two known ones in the middle and at the end.
	var next []int
	for i := 2; i < 620; i++ {
		next = append(next, i)
		if i == 300 {
			next = append(next, 1)
		}
	}
	next = append(next, 0)
	mu.Lock()
	list = next
	mu.Unlock()
	if err := b.jobs.RunSchedules(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	done := waitBatch(t, b, bt.ID, jobs.BatchDone)
	if done.Total != 620 || done.Refresh == nil || done.Refresh.Failures != 0 {
		t.Fatalf("after the re-read: total %d, refresh %+v; want 620 items and no failure", done.Total, done.Refresh)
	}
	var out bytes.Buffer
	if err := b.jobs.WriteResults(ctx, bt.ID, &out, manifest.CSV); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, r := range recs[1:] {
		n, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatalf("row %q: %v", r[0], err)
		}
		got[n] = r[1]
	}
	// The first read numbered its rows as in the file (the header is row 1); the re-read
	// numbers its rows from 4 on, in the file's order, and the known ones are left out
	// (their numbers unused).
	wantRows := map[int]string{2: src(0), 3: src(1)}
	for k, i := range next {
		if i >= 2 {
			wantRows[4+k] = src(i)
		}
	}
	if len(got) != len(wantRows) {
		t.Fatalf("results have %d rows, want %d", len(got), len(wantRows))
	}
	for n, u := range wantRows {
		if got[n] != u {
			t.Fatalf("row %d: got %q, want %q", n, got[n], u)
		}
	}
}
