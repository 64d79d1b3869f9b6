package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
)

// A batch made from a selection of stored images: one item per matching image, with its
// metadata as the item's columns; a selection and a manifest together are refused.
func TestBatchFromSelection(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setupBatch(t, dialect)
			src := catalogImages(t, 9)
			ctx := context.Background()
			want := map[string]bool{}
			for i := range 9 {
				cat := []string{"shoes", "bags", "hats"}[i%3]
				res, err := b.cat.Ingest(ctx, catalog.IngestRequest{URL: fmt.Sprintf("%s/img/%d.jpg", src.URL, i), SKU: fmt.Sprintf("SKU-%d", i),
					Meta: map[string]string{"category": cat, "brand": "acme"}})
				if err != nil {
					t.Fatal(err)
				}
				if cat == "shoes" {
					want[res.Image.ID] = true
				}
			}
			sel := catalog.Selection{Meta: map[string][]string{"category": {"shoes"}}}
			recipe := catalog.RecipeRef{Inline: []byte(smallRecipe)}
			if _, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: recipe, Selection: &sel,
				Manifest: strings.NewReader("url\nhttp://x/1.jpg\n"), Format: manifest.CSV}); !errors.Is(err, catalog.ErrInvalid) {
				t.Errorf("selection and manifest: %v, want ErrInvalid", err)
			}
			if _, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: recipe, Selection: &sel, Schedule: "0 * * * *"}); !errors.Is(err, catalog.ErrInvalid) {
				t.Errorf("selection with a schedule: %v, want ErrInvalid", err)
			}
			bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Name: "shoes", Recipe: recipe, Selection: &sel})
			if err != nil {
				t.Fatal(err)
			}
			if bt.Total != 3 || bt.Selection == nil || !slices.Equal(bt.Columns, []string{"brand", "category"}) {
				t.Fatalf("created = total %d selection %s columns %q, want 3 items from the selection with its metadata columns", bt.Total, bt.Selection, bt.Columns)
			}
			if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{}); err != nil {
				t.Fatal(err)
			}
			done := waitBatch(t, b, bt.ID, jobs.BatchDone)
			if done.Counts[jobs.ItemSucceeded] != 3 {
				t.Fatalf("counts %v, want 3 succeeded", done.Counts)
			}
			var out bytes.Buffer
			if err := b.jobs.WriteResults(ctx, bt.ID, &out, manifest.JSONL); err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var r manifest.Result
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatal(err)
				}
				if !want[r.Source] || r.Meta["category"] != "shoes" || len(r.Outputs) != 1 || r.Outputs[0].Width == 0 {
					t.Errorf("result %s: want a selected image with its metadata and a sized output", line)
				}
				delete(want, r.Source)
			}
			if len(want) != 0 {
				t.Errorf("images selected but missing from the results: %v", want)
			}
		})
	}
}

// A scheduled batch knows rows by their content: a re-export that moves rows around adds
// only the new product, and one with other products in the same rows adds them all.
func TestScheduledBatchKnowsRowsByContent(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, "sqlite")
	imgs := catalogImages(t, 12)
	var (
		mu     sync.Mutex
		list   []int
		colour bool // the re-export gains a column
	)
	setList := func(l ...int) { mu.Lock(); list = l; mu.Unlock() }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if colour {
			fmt.Fprintln(w, "url,sku,title,colour")
		} else {
			fmt.Fprintln(w, "url,sku,title")
		}
		for _, i := range list {
			fmt.Fprintf(w, "%s/img/%d.jpg,SKU-%d,product %d", imgs.URL, i, i, i)
			if colour {
				fmt.Fprint(w, ",red")
			}
			fmt.Fprintln(w)
		}
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	setList(0, 1, 2, 1) // the second 1 repeats the first: one item
	first := fmt.Sprintf("url,sku,title\n%[1]s/img/0.jpg,SKU-0,a\n%[1]s/img/1.jpg,SKU-1,b\n%[1]s/img/2.jpg,SKU-2,c\n%[1]s/img/1.jpg,SKU-1,b\n", imgs.URL)
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)}, Schedule: "0 * * * *",
		ManifestURL: srv.URL + "/list.csv", Manifest: strings.NewReader(first), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	if bt.Total != 3 || bt.DuplicateRows != 1 {
		t.Fatalf("created: total %d, duplicates %d; want 3 items and 1 duplicate row", bt.Total, bt.DuplicateRows)
	}
	if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBatch(t, b, bt.ID, jobs.BatchDone)
	due := time.Now()
	refresh := func(wantTotal int) {
		t.Helper()
		due = due.Add(2 * time.Hour) // past the last re-read's next run
		if err := b.jobs.RunSchedules(ctx, due); err != nil {
			t.Fatal(err)
		}
		got := waitBatch(t, b, bt.ID, jobs.BatchDone)
		if got.Total != wantTotal || got.Counts[jobs.ItemSucceeded] != wantTotal {
			t.Fatalf("after a re-read: total %d, counts %v; want %d succeeded", got.Total, got.Counts, wantTotal)
		}
	}
	setList(3, 2, 0, 1) // one new product, the rest moved
	refresh(4)
	setList(5, 6, 7, 8) // other products in the same rows: all new, with a new column
	mu.Lock()
	colour = true
	mu.Unlock()
	refresh(8)
	if got, _ := b.jobs.GetBatch(ctx, bt.ID); !slices.Equal(got.Columns, []string{"title", "colour"}) {
		t.Errorf("columns after a re-export with a new one: %q, want [title colour]", got.Columns)
	}
	refresh(8) // nothing new
	var out bytes.Buffer
	if err := b.jobs.WriteResults(ctx, bt.ID, &out, manifest.CSV); err != nil {
		t.Fatal(err)
	}
	for _, sku := range []string{"SKU-0", "SKU-3", "SKU-5", "SKU-8"} {
		if strings.Count(out.String(), ","+sku+",") != 1 {
			t.Errorf("results: want %s exactly once:\n%s", sku, out.String())
		}
	}
	if !strings.Contains(out.String(), "product 8,red\n") {
		t.Errorf("results: want the new column's value for the re-exported rows:\n%s", out.String())
	}
}

// A scheduled batch whose recipe has AI steps trials the rows a re-read adds: below
// min_accuracy it pauses, saying why, and runs none of them.
func TestScheduledNewRowsAreTrialled(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, "sqlite")
	imgs := productImages(t, 8)
	m := newManifestServer(t, imgs.URL)
	m.set("list", 2, 0)
	ctx := context.Background()
	bt := createScheduledRecipe(t, b, m, "list", cutoutRecipe)
	// The first rows fail their checks too: started with force, they run (held for review).
	if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	waitBatch(t, b, bt.ID, jobs.BatchDone)
	m.set("list", 5, 0)
	if err := b.jobs.RunSchedules(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := waitBatch(t, b, bt.ID, jobs.BatchPaused)
	// The first rows are 2 and 3 (the file's rows); new items are numbered after them.
	if got.Trial == nil || !got.Trial.Done || got.Trial.FromRow != 4 || got.Trial.Progress.Total != 3 {
		t.Fatalf("trial of the new rows = %+v, want the 3 new rows sampled", got.Trial)
	}
	for _, s := range got.Trial.Samples {
		if s.Row < 4 {
			t.Errorf("sample of row %d: want only new rows", s.Row)
		}
	}
	if !strings.Contains(got.PausedReason, "from row 4") || !strings.Contains(got.PausedReason, "below min_accuracy") {
		t.Errorf("paused_reason %q: want it to say the new rows' trial is below min_accuracy", got.PausedReason)
	}
	if got.Total != 5 || got.Counts[jobs.ItemSucceeded] != 2 || got.Counts[jobs.ItemQueued] != 3 {
		t.Errorf("counts %v total %d: want the 2 first rows done and the 3 new ones waiting", got.Counts, got.Total)
	}
	// Resuming past the gate runs them.
	if _, err := b.jobs.ResumeBatch(ctx, bt.ID, jobs.ActionOptions{}); !errors.Is(err, jobs.ErrTrialGate) {
		t.Errorf("resume without force: %v, want the trial gate", err)
	}
	if _, err := b.jobs.ResumeBatch(ctx, bt.ID, jobs.ActionOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if done := waitBatch(t, b, bt.ID, jobs.BatchDone); done.Counts[jobs.ItemSucceeded] != 5 {
		t.Errorf("after resume: %v, want 5 succeeded", done.Counts)
	}
}

// createScheduledRecipe creates a started-able scheduled batch of recipe over m's name.
func createScheduledRecipe(t *testing.T, b bundle, m *manifestServer, name, recipe string) jobs.Batch {
	t.Helper()
	ctx := context.Background()
	m.mu.Lock()
	first := jobs.URLManifest(m.imgBase, m.rows[name])
	m.mu.Unlock()
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(recipe)}, Schedule: "0 * * * *",
		ManifestURL: m.URL + "/" + name + ".csv", Manifest: strings.NewReader(first), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	return bt
}

// A delayed start: nothing happens before its time; at it the batch runs. A recipe with AI
// steps is trialled at once, and at its time a trial below min_accuracy refuses the start,
// saying so on the batch.
func TestDelayedStart(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, "sqlite")
	imgs := productImages(t, 4)
	ctx := context.Background()
	at := time.Now().Add(time.Hour)
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
		Manifest: strings.NewReader(jobs.URLManifest(imgs.URL, 4)), Format: manifest.CSV, StartAt: &at})
	if err != nil {
		t.Fatal(err)
	}
	if bt.State != jobs.BatchDraft || bt.StartAt == nil || !bt.StartAt.Equal(at.UTC().Truncate(0)) && bt.StartAt.Sub(at).Abs() > time.Microsecond {
		t.Fatalf("created = %s start_at %v, want a draft starting at %v", bt.State, bt.StartAt, at)
	}
	if err := b.jobs.RunDelayedStarts(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.jobs.GetBatch(ctx, bt.ID); got.State != jobs.BatchDraft {
		t.Fatalf("before its time: %s, want draft", got.State)
	}
	if err := b.jobs.RunDelayedStarts(ctx, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if done := waitBatch(t, b, bt.ID, jobs.BatchDone); done.Counts[jobs.ItemSucceeded] != 4 || done.StartAt != nil {
		t.Fatalf("after its time: %v start_at %v, want 4 succeeded and no start pending", done.Counts, done.StartAt)
	}

	// An AI recipe: trialled at creation, refused at its time.
	bt, err = b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(cutoutRecipe)},
		Manifest: strings.NewReader(jobs.URLManifest(imgs.URL, 4)), Format: manifest.CSV, StartAt: &at})
	if err != nil {
		t.Fatal(err)
	}
	if bt.State != jobs.BatchTrialling {
		t.Fatalf("an AI batch with a delayed start: %s, want it trialling at once", bt.State)
	}
	ready := waitBatch(t, b, bt.ID, jobs.BatchReady)
	if ready.StartAt == nil {
		t.Fatal("the trial cleared the delayed start")
	}
	if err := b.jobs.RunDelayedStarts(ctx, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ := b.jobs.GetBatch(ctx, bt.ID)
	if got.State != jobs.BatchReady || got.StartAt != nil || !strings.Contains(got.Error, "delayed start was refused") {
		t.Errorf("refused start: %s start_at %v error %q, want ready, no start pending, and why", got.State, got.StartAt, got.Error)
	}
	// Scheduling a start past a failed trial is refused at once, unless forced.
	if _, err := b.jobs.ScheduleStart(ctx, bt.ID, at, false); !errors.Is(err, jobs.ErrTrialGate) {
		t.Errorf("schedule past a failed trial: %v, want the trial gate", err)
	}
	if _, err := b.jobs.ScheduleStart(ctx, bt.ID, time.Now(), true); err != nil {
		t.Fatal(err)
	}
	if done := waitBatch(t, b, bt.ID, jobs.BatchDone); done.Counts[jobs.ItemSucceeded] != 4 {
		t.Errorf("forced delayed start due now: %v, want 4 succeeded", done.Counts)
	}
}

// Results as XLSX: the input columns, each output's URL and size, state, checks and the
// item's cost, read back by an independent reader.
func TestResultsXLSX(t *testing.T) {
	t.Parallel()
	b := setupWith(t, options{loopback: true, jobs: func(c *jobs.Config) {
		c.Costs = jobs.Costs{CPUSecond: 0.5, Currency: "EUR"}
	}})
	imgs := productImages(t, 3)
	ctx := context.Background()
	csv := fmt.Sprintf("url,sku,Title,price\n%[1]s/img/0.jpg,A,Red box,12.50\n%[1]s/img/1.jpg,B,Big box,=1+1\n%[1]s/img/99.jpg,C,Gone,1\n", imgs.URL)
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(cutoutRecipe)},
		Manifest: strings.NewReader(csv), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	waitBatch(t, b, bt.ID, jobs.BatchDone)
	var out bytes.Buffer
	if err := b.jobs.WriteResults(ctx, bt.ID, &out, manifest.XLSX); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&out)
	if err != nil {
		t.Fatalf("open the export: %v", err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("rows: got %d, want a header and 3", len(rows))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"row", "sku", "url", "Title", "price", "state", "review", "checks", "main url", "main width", "main height", "main bytes", "cost (EUR)"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("header %q: want column %q", rows[0], h)
		}
	}
	cell := func(r int, h string) string {
		if c := col[h]; c < len(rows[r]) {
			return rows[r][c]
		}
		return ""
	}
	if cell(1, "Title") != "Red box" || cell(2, "price") != "=1+1" || cell(1, "state") != "succeeded" || cell(3, "state") != "failed" {
		t.Errorf("input columns and states: %q", rows)
	}
	if cell(1, "main url") == "" || cell(1, "main width") == "" || cell(1, "review") != "pending" || !strings.HasPrefix(cell(1, "checks"), "fail") {
		t.Errorf("outputs, review and checks of row 1: %q", rows[1])
	}
	if v, err := strconv.ParseFloat(cell(1, "cost (EUR)"), 64); err != nil || v <= 0 {
		t.Errorf("row 1's cost %q (%v): want a positive number", cell(1, "cost (EUR)"), err)
	}
}
