package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/checks"
	"github.com/pictor/pictor/internal/waitfor"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
)

// productImages serves n distinct product shots at /img/<i>.jpg: a red box, its size
// varying with i, on a plain white background (which classic matting can cut out).
func productImages(t *testing.T, n int) *httptest.Server {
	t.Helper()
	imgs := make([][]byte, n)
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 320, 240))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		draw.Draw(img, image.Rect(100, 60, 200+i*4, 180), image.NewUniform(color.RGBA{200, 40, 30, 255}), image.Point{}, draw.Src)
		var buf bytes.Buffer
		png.Encode(&buf, img)
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

// cutoutRecipe has an AI-class step (classic matting) and asks the product to fill 99% of
// the frame, which none of productImages' boxes does: every output fails product_fill.
const cutoutRecipe = `{"steps":[{"op":"remove_background","engine":"classic"},{"op":"background","color":"#ffffff"}],
	"outputs":[{"name":"main","format":"jpeg","checks":{"product_fill_min":0.99}}]}`

// A trial runs as a job: it answers at once (trialling), shows its progress on the batch
// row as each sample finishes, and a cancel of the batch stops it.
func TestBatchTrialProgressesAndCancels(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, "sqlite")
	imgs := catalogImages(t, 6)
	release := make(chan struct{}, 6)
	arrived := make(chan struct{}, 6) // one per fetch that reached the source
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		resp, err := http.Get(imgs.URL + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		buf := new(bytes.Buffer)
		buf.ReadFrom(resp.Body)
		w.Write(buf.Bytes())
	}))
	t.Cleanup(src.Close)
	ctx := context.Background()
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
		Manifest: strings.NewReader(jobs.URLManifest(src.URL, 6)), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	bt, err = b.jobs.TrialBatch(ctx, bt.ID, 4)
	if err != nil {
		t.Fatal(err)
	}
	if bt.State != jobs.BatchTrialling || bt.Trial == nil || bt.Trial.Progress != (jobs.TrialProgress{Done: 0, Total: 4}) {
		t.Fatalf("trial answered %s %+v, want trialling 0/4", bt.State, bt.Trial)
	}
	if took := time.Since(started); took > 5*time.Second {
		t.Errorf("the trial call took %v while every source hangs; want it to answer at once", took)
	}
	if _, err := b.jobs.TrialBatch(ctx, bt.ID, 4); !errors.Is(err, jobs.ErrBatchState) {
		t.Errorf("second trial while trialling: got %v, want ErrBatchState", err)
	}
	if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{Force: true}); !errors.Is(err, jobs.ErrBatchState) {
		t.Errorf("start while trialling: got %v, want ErrBatchState", err)
	}
	// Let two samples through, one at a time: the row shows each.
	timeout := time.After(20 * time.Second)
	for want := 1; want <= 2; want++ {
		select {
		case <-arrived:
		case <-timeout:
			t.Fatalf("sample %d never fetched its source", want)
		}
		release <- struct{}{}
		waitFor(t, b, bt.ID, fmt.Sprintf("trial progress %d/4", want), func(g jobs.Batch) bool {
			return g.Trial != nil && g.Trial.Progress.Done == want
		})
	}
	got, _ := b.jobs.GetBatch(ctx, bt.ID)
	if got.State != jobs.BatchTrialling || len(got.Trial.Samples) != 2 || got.Trial.Done {
		t.Fatalf("mid-trial batch: %s, %d samples, done %v; want trialling with 2 samples", got.State, len(got.Trial.Samples), got.Trial.Done)
	}
	// The third sample hangs in its fetch; cancel stops the trial there.
	select {
	case <-arrived:
	case <-timeout:
		t.Fatal("the third sample never fetched its source")
	}
	if _, err := b.jobs.CancelBatch(ctx, bt.ID); err != nil {
		t.Fatal(err)
	}
	live := func() int {
		var n int
		if err := b.db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE kind = 'batch_trial'
			AND state IN ('available', 'scheduled', 'running', 'retryable')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// River's job rows are the only place this shows: poll them.
	waitfor.Cond(t, 20*time.Second, func() bool { return live() == 0 }, "the trial job to end after its batch was cancelled")
	final, _ := b.jobs.GetBatch(ctx, bt.ID)
	if final.State != jobs.BatchCancelled || final.Trial.Progress.Done != 2 || final.Estimate != nil {
		t.Errorf("after cancel: %s, progress %+v, estimate %v; want cancelled at 2/4 with no estimate", final.State, final.Trial.Progress, final.Estimate)
	}
}

// A recipe with AI steps needs a trial before it starts; a trial below min_accuracy blocks
// the start (with the report) unless forced; the results mark each item's verdict.
func TestBatchTrialAccuracyGatesStart(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, "sqlite")
	src := productImages(t, 6)
	ctx := context.Background()
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(cutoutRecipe)},
		Manifest: strings.NewReader(jobs.URLManifest(src.URL, 6)), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	if bt.MinAccuracy != jobs.DefaultMinAccuracy || bt.Review != catalog.ReviewFailed {
		t.Errorf("defaults: got min_accuracy %v review %q, want %v and %q for an AI recipe", bt.MinAccuracy, bt.Review, jobs.DefaultMinAccuracy, catalog.ReviewFailed)
	}
	var gate *jobs.TrialGateError
	if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{}); !errors.As(err, &gate) || gate.Trial != nil || !errors.Is(err, jobs.ErrBatchState) {
		t.Fatalf("start without a trial: got %v, want a TrialGateError asking for a trial", err)
	}
	if _, err := b.jobs.TrialBatch(ctx, bt.ID, 4); err != nil {
		t.Fatal(err)
	}
	bt = waitBatch(t, b, bt.ID, jobs.BatchReady)
	tr := bt.Trial
	if tr == nil || !tr.Done || tr.Judged != 4 || tr.Accuracy != 0 || len(tr.Failing) != 4 {
		t.Fatalf("trial report = %+v, want 4 judged samples, all failing (accuracy 0)", tr)
	}
	if tr.Failures[checks.ProductFill] != 4 {
		t.Errorf("failures per check: got %v, want product_fill 4", tr.Failures)
	}
	for _, s := range tr.Failing {
		if s.BeforeURL == "" || s.AfterURL == "" || s.Verdict != jobs.VerdictFail || s.Checks == nil || s.Checks.Passed {
			t.Errorf("failing sample %+v: want before/after URLs, verdict fail and its failed report", s)
		}
		if len(s.FailedChecks) == 0 || s.FailedChecks[0].Name != checks.ProductFill {
			t.Errorf("failing sample row %d checks: got %+v, want the product_fill result", s.Row, s.FailedChecks)
		}
	}
	_, err = b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{})
	if !errors.As(err, &gate) || gate.Trial == nil || gate.Trial.Accuracy != 0 || gate.MinAccuracy != jobs.DefaultMinAccuracy {
		t.Fatalf("start below the threshold: got %v, want a TrialGateError with the report", err)
	}
	if got, _ := b.jobs.GetBatch(ctx, bt.ID); got.State != jobs.BatchReady {
		t.Fatalf("after a refused start: state %s, want ready", got.State)
	}
	if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{Force: true}); err != nil {
		t.Fatalf("forced start: %v", err)
	}
	waitBatch(t, b, bt.ID, jobs.BatchDone)
	var out bytes.Buffer
	if err := b.jobs.WriteResults(ctx, bt.ID, &out, manifest.CSV); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 7 {
		t.Fatalf("results: got %d lines, want a header and 6 rows:\n%s", len(lines), out.String())
	}
	for _, l := range lines[1:] {
		if !strings.Contains(l, ",pending,fail: product_fill,") {
			t.Errorf("result row %q: want it held for review (pending) with the failing check", l)
		}
	}
}

// A batch with a max_cost pauses itself before an item would pass it, says why, and goes
// on only when resumed with a higher max_cost.
func TestBatchMaxCostPauses(t *testing.T) {
	t.Parallel()
	b := setupBatch(t, "sqlite") // priced: CPU-seconds and GB-months, in USD
	src := catalogImages(t, 8)
	ctx := context.Background()
	tiny := 1e-9
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)}, MaxCost: &tiny,
		Manifest: strings.NewReader(jobs.URLManifest(src.URL, 8)), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	if bt.MaxCost == nil || *bt.MaxCost != tiny || bt.Review != catalog.ReviewNone || bt.Spent == nil || bt.Currency != "USD" {
		t.Fatalf("created = max_cost %v review %q spent %v %q; want the cap, review none, spent 0 USD", bt.MaxCost, bt.Review, bt.Spent, bt.Currency)
	}
	if _, err := b.jobs.TrialBatch(ctx, bt.ID, 3); err != nil {
		t.Fatal(err)
	}
	bt = waitBatch(t, b, bt.ID, jobs.BatchReady)
	if e := bt.Estimate; e == nil || e.CostPerItem == nil || *e.CostPerItem <= 0 {
		t.Fatalf("estimate = %+v, want a cost per item", bt.Estimate)
	}
	if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{}); err != nil {
		t.Fatal(err)
	}
	paused := waitBatch(t, b, bt.ID, jobs.BatchPaused, jobs.BatchDone)
	if paused.State != jobs.BatchPaused {
		t.Fatalf("state %s counts %v, want paused by its max_cost", paused.State, paused.Counts)
	}
	if !regexp.MustCompile(`^max_cost 0\.00 USD would be passed: spent 0\.00 USD`).MatchString(paused.PausedReason) {
		t.Errorf("paused_reason: got %q, want it to name max_cost and the spend", paused.PausedReason)
	}
	if paused.Counts[jobs.ItemSucceeded] != 0 || paused.Spent == nil || *paused.Spent > tiny {
		t.Errorf("paused with %v, spent %v; want no item run and nothing past the cap", paused.Counts, paused.Spent)
	}
	if _, err := b.jobs.ResumeBatch(ctx, bt.ID, jobs.ActionOptions{}); !errors.Is(err, jobs.ErrBatchState) {
		t.Errorf("resume without raising max_cost: got %v, want ErrBatchState", err)
	}
	zero := 0.0
	if _, err := b.jobs.ResumeBatch(ctx, bt.ID, jobs.ActionOptions{MaxCost: &zero}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("resume with a cap not above the spend: got %v, want ErrInvalid", err)
	}
	more := 1000.0
	if _, err := b.jobs.ResumeBatch(ctx, bt.ID, jobs.ActionOptions{MaxCost: &more}); err != nil {
		t.Fatal(err)
	}
	done := waitBatch(t, b, bt.ID, jobs.BatchDone)
	if done.Counts[jobs.ItemSucceeded] != 8 || done.PausedReason != "" || done.MaxCost == nil || *done.MaxCost != more {
		t.Errorf("after resume: %v, reason %q, max_cost %v; want 8 succeeded under the new cap", done.Counts, done.PausedReason, done.MaxCost)
	}
}

// Without prices nothing says 0: the estimate and the batch leave cost out and say why,
// and a max_cost cannot be set.
func TestBatchUnpriced(t *testing.T) {
	t.Parallel()
	b := setupWith(t, options{dialect: "sqlite", loopback: true})
	src := catalogImages(t, 3)
	ctx := context.Background()
	cap := 5.0
	if _, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)}, MaxCost: &cap,
		Manifest: strings.NewReader(jobs.URLManifest(src.URL, 3)), Format: manifest.CSV}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("max_cost without prices: got %v, want ErrInvalid", err)
	}
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
		Manifest: strings.NewReader(jobs.URLManifest(src.URL, 3)), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.jobs.TrialBatch(ctx, bt.ID, 2); err != nil {
		t.Fatal(err)
	}
	bt = waitBatch(t, b, bt.ID, jobs.BatchReady)
	e := bt.Estimate
	if e == nil || e.Priced || e.Cost != nil || e.CostPerItem != nil || e.Currency != "" || !strings.HasPrefix(e.Note, "no prices configured: set PICTOR_COST_GPU_SECOND") {
		t.Errorf("unpriced estimate = %+v, want no cost fields and the note", e)
	}
	if bt.Spent != nil || bt.Currency != "" {
		t.Errorf("unpriced batch: spent %v %q, want none", bt.Spent, bt.Currency)
	}
}
