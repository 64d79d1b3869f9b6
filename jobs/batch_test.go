package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/internal/waitfor"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
)

// setupBatch wires catalog and jobs with a fetcher allowed to reach loopback sources.
func setupBatch(t *testing.T, dialect string) bundle {
	return setupWith(t, options{dialect: dialect, loopback: true, jobs: func(c *jobs.Config) {
		c.CPUWorkers = 2
		c.Costs = jobs.Costs{CPUSecond: 0.5, GBMonth: 2}
	}})
}

// catalogImages serves n distinct JPEGs at /img/<i>.jpg; sizes alternate small and large.
func catalogImages(t *testing.T, n int) *httptest.Server {
	t.Helper()
	imgs := make([][]byte, n)
	for i := range n {
		w, h := 300+i%7*10, 200
		if i%2 == 1 {
			w, h = 1200, 900
		}
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for p := range img.Pix {
			img.Pix[p] = uint8(p*(i+3)) | 0x40
		}
		img.Set(0, 0, color.Black)
		var buf bytes.Buffer
		jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
		imgs[i] = buf.Bytes()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		if _, err := fmt.Sscanf(r.URL.Path, "/img/%d.jpg", &i); err != nil || i < 0 || i >= n {
			http.NotFound(w, r)
			return
		}
		w.Write(imgs[i])
	}))
	t.Cleanup(srv.Close)
	return srv
}

func waitBatch(t *testing.T, b bundle, id string, states ...string) jobs.Batch {
	t.Helper()
	return waitFor(t, b, id, fmt.Sprintf("state %v", states), func(bt jobs.Batch) bool {
		return slices.Contains(states, bt.State)
	})
}

// waitFor polls the batch row (the only place its progress shows) until cond holds, for
// at most 60 s.
func waitFor(t *testing.T, b bundle, id, what string, cond func(jobs.Batch) bool) jobs.Batch {
	t.Helper()
	var bt jobs.Batch
	if !waitfor.Poll(60*time.Second, func() bool {
		var err error
		if bt, err = b.jobs.GetBatch(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return cond(bt)
	}) {
		t.Fatalf("waited 60 s for %s: batch %s counts %v trial %+v", what, bt.State, bt.Counts, bt.Trial)
	}
	return bt
}

const smallRecipe = `{"steps":[{"op":"resize","width":160,"height":160,"fit":"inside"}],"outputs":[{"name":"main","format":"jpeg"}]}`

func TestBatchEndToEnd(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setupBatch(t, dialect)
			src := catalogImages(t, 40)
			var csv strings.Builder
			csv.WriteString("url,sku,color\n")
			for i := range 40 {
				fmt.Fprintf(&csv, "%s/img/%d.jpg,SKU-%d,red\n", src.URL, i, i)
			}
			csv.WriteString(",no-source,blue\n")               // row 42: bad
			csv.WriteString(src.URL + "/img/999.jpg,gone,x\n") // row 43: fails (404)
			ctx := context.Background()
			bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Name: "fix", Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
				Manifest: strings.NewReader(csv.String()), Format: manifest.CSV})
			if err != nil {
				t.Fatal(err)
			}
			if bt.State != jobs.BatchDraft || bt.Total != 41 || bt.BadRows != 1 || len(bt.BadRowList) != 1 || bt.BadRowList[0].Row != 42 {
				t.Fatalf("created = %+v, want a draft of 41 items with bad row 42", bt)
			}
			bt, err = b.jobs.TrialBatch(ctx, bt.ID, 5)
			if err != nil {
				t.Fatal(err)
			}
			if bt.State != jobs.BatchTrialling || bt.Trial == nil || bt.Trial.Progress.Total != 5 {
				t.Fatalf("trial answered %s %+v, want trialling with 5 samples to run", bt.State, bt.Trial)
			}
			bt = waitBatch(t, b, bt.ID, jobs.BatchReady)
			if bt.Trial == nil || len(bt.Trial.Samples) != 5 || bt.Trial.Progress.Done != 5 || !bt.Trial.Done || bt.Estimate == nil {
				t.Fatalf("after trial = %+v", bt)
			}
			// A classic recipe has no checks: every sample that ran passes; only the 404 row,
			// when sampled, fails (as an error).
			errored := bt.Trial.Failures[jobs.VerdictError]
			if want := float64(5-errored) / 5; bt.Trial.Accuracy != want || bt.Trial.Judged != 5 || len(bt.Trial.Failing) != errored || len(bt.Trial.Failures) > 1 {
				t.Errorf("trial report: accuracy %v over %d, failures %v; want %v over 5, errors only", bt.Trial.Accuracy, bt.Trial.Judged, bt.Trial.Failures, want)
			}
			if e := bt.Estimate; e.Items == 0 || e.CPUSeconds <= 0 || e.Bytes <= 0 || e.WallSeconds < 0 || !e.Priced ||
				e.Currency != "USD" || e.Cost == nil || *e.Cost <= 0 || e.CostPerItem == nil || *e.CostPerItem <= 0 || e.Note != "" {
				t.Errorf("estimate = %+v, want items, CPU, bytes and a cost in USD", e)
			}
			for _, s := range bt.Trial.Samples {
				if s.Error == "" && (s.BeforeURL == "" || s.AfterURL == "") {
					t.Errorf("trial sample %+v lacks before/after", s)
				}
			}
			// Forced: the sample may have drawn the 404 row.
			if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{Force: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{Force: true}); !errors.Is(err, jobs.ErrBatchState) {
				t.Errorf("second start: %v, want ErrBatchState", err)
			}
			done := waitBatch(t, b, bt.ID, jobs.BatchDone)
			if done.Counts[jobs.ItemSucceeded] != 40 || done.Counts[jobs.ItemFailed] != 1 || done.Counts[jobs.ItemQueued] != 0 {
				t.Fatalf("counts = %v, want 40 succeeded and 1 failed", done.Counts)
			}
			// The spend is added up as items finish; the trial's renders were cache hits
			// for the batch but 40 originals and renditions were still stored.
			if done.CPUSeconds <= 0 || done.Bytes <= 0 || done.GPUSeconds != 0 {
				t.Errorf("spend so far: cpu %v s, %d bytes, gpu %v s; want CPU and bytes, no GPU", done.CPUSeconds, done.Bytes, done.GPUSeconds)
			}
			if done.Spent == nil || *done.Spent <= 0 || done.Currency != "USD" {
				t.Errorf("spent: got %v %q, want a cost in USD", done.Spent, done.Currency)
			}
			var out bytes.Buffer
			if err := b.jobs.WriteResults(ctx, bt.ID, &out, manifest.CSV); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 42 || lines[0] != "row,source,sku,state,renditions,error,review,checks,cost,gpu_seconds,cpu_seconds,color" ||
				!strings.HasPrefix(lines[1], "2,") || !strings.Contains(lines[1], "succeeded") || !strings.HasSuffix(lines[1], ",red") ||
				!strings.Contains(lines[41], "failed") {
				t.Errorf("results:\n%s", out.String())
			}
			// The manifest's column is kept: the batch lists it, and every stored image
			// carries it as metadata that a selection finds.
			if !slices.Equal(done.Columns, []string{"color"}) {
				t.Errorf("columns: got %q, want [color]", done.Columns)
			}
			n, err := b.cat.CountSelection(ctx, catalog.Selection{Meta: map[string][]string{"color": {"red"}}})
			if err != nil || n != 40 {
				t.Errorf("images with color=red: got %d (%v), want the 40 ingested", n, err)
			}
		})
	}
}

func TestBatchFilterPauseCancel(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, "sqlite")
	src := catalogImages(t, 12)
	csv := jobs.URLManifest(src.URL, 12)
	ctx := context.Background()
	// Only the small images (shorter side 200) pass the filter.
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
		Filter: []byte(`{"shorter_side_below": 500}`), Manifest: strings.NewReader(csv), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{}); err != nil {
		t.Fatal(err)
	}
	done := waitBatch(t, b, bt.ID, jobs.BatchDone)
	if done.Counts[jobs.ItemSucceeded] != 6 || done.Counts[jobs.ItemSkipped] != 6 {
		t.Fatalf("counts = %v, want 6 succeeded and 6 skipped by the filter", done.Counts)
	}
	// Pause holds items back; cancel skips what is left.
	bt2, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
		Manifest: strings.NewReader(csv), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.jobs.PauseBatch(ctx, bt2.ID); !errors.Is(err, jobs.ErrBatchState) {
		t.Errorf("pause a draft: %v, want ErrBatchState", err)
	}
	if _, err := b.jobs.CancelBatch(ctx, bt2.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := b.jobs.GetBatch(ctx, bt2.ID)
	if got.State != jobs.BatchCancelled || got.Counts[jobs.ItemSkipped] != 12 {
		t.Errorf("cancelled draft = %s %v, want every item skipped", got.State, got.Counts)
	}
}

// A scheduled batch re-reads its manifest when due and runs only the new rows.
func TestScheduledBatchRunsNewRows(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, "sqlite")
	imgs := catalogImages(t, 10)
	var mu sync.Mutex
	rows := 4
	list := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(w, "url")
		for i := range rows {
			fmt.Fprintf(w, "%s/img/%d.jpg\n", imgs.URL, i)
		}
	}))
	t.Cleanup(list.Close)
	ctx := context.Background()
	mf, err := b.cat.FetchManifest(ctx, list.URL+"/list.csv")
	if err != nil {
		t.Fatal(err)
	}
	first, err := io.ReadAll(mf)
	mf.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mf.Name()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the fetched manifest's temporary file is left after Close: %v", err)
	}
	if _, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)}, Schedule: "not cron",
		ManifestURL: list.URL + "/list.csv", Manifest: bytes.NewReader(first), Format: manifest.CSV}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("bad cron: %v, want ErrInvalid", err)
	}
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)}, Schedule: "0 * * * *",
		ManifestURL: list.URL + "/list.csv", Manifest: bytes.NewReader(first), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	if bt.NextRun == nil || bt.Schedule != "0 * * * *" {
		t.Fatalf("scheduled batch = %+v", bt)
	}
	if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBatch(t, b, bt.ID, jobs.BatchDone)
	// Not due yet: nothing changes even though the manifest grew.
	mu.Lock()
	rows = 7
	mu.Unlock()
	if err := b.jobs.RunSchedules(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.jobs.GetBatch(ctx, bt.ID); got.Total != 4 {
		t.Fatalf("total before due = %d, want 4", got.Total)
	}
	if err := b.jobs.RunSchedules(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	done := waitBatch(t, b, bt.ID, jobs.BatchDone)
	if done.Total != 7 || done.Counts[jobs.ItemSucceeded] != 7 {
		t.Fatalf("after the scheduled run: total %d counts %v, want 7 succeeded", done.Total, done.Counts)
	}
}
