package jobs_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/internal/waitfor"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
)

// Pausing a running batch parks its queued items (back to pending, their jobs completed,
// nothing left going round the queue) while the running ones finish; resuming queues the
// parked items again and the batch ends with every item done once.
func TestBatchPauseParksAndResumes(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			const otherItems = 2 // the batch that runs while this one is paused
			b := setupWith(t, options{dialect: dialect, loopback: true, jobs: func(c *jobs.Config) { c.BatchWorkers = 3 }})
			imgs := catalogImages(t, 20)
			held := make(chan struct{})
			var arrived atomic.Int32
			src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived.Add(1)
				<-held
				resp, err := http.Get(imgs.URL + r.URL.Path)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				defer resp.Body.Close()
				w.WriteHeader(resp.StatusCode)
				_, _ = io.Copy(w, resp.Body)
			}))
			t.Cleanup(src.Close)
			release := func() {
				select {
				case <-held:
				default:
					close(held)
				}
			}
			t.Cleanup(release)

			ctx := context.Background()
			bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
				Manifest: strings.NewReader(jobs.URLManifest(src.URL, 20)), Format: manifest.CSV})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{}); err != nil {
				t.Fatal(err)
			}
			waitfor.Cond(t, 30*time.Second, func() bool { return arrived.Load() >= 3 }, "3 fetches to arrive (the 3 workers busy)")
			if _, err := b.jobs.PauseBatch(ctx, bt.ID); err != nil {
				t.Fatal(err)
			}
			release()

			// The three in flight finish; every other item is parked, and no job of the batch
			// is left available, scheduled or running.
			live := func() int {
				var n int
				if err := b.db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE kind = 'batch_item'
					AND state IN ('available', 'scheduled', 'running', 'retryable')`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			waitfor.Cond(t, 30*time.Second, func() bool { return live() == 0 }, "no item job left live after pausing")
			paused, err := b.jobs.GetBatch(ctx, bt.ID)
			if err != nil {
				t.Fatal(err)
			}
			if paused.State != jobs.BatchPaused || paused.Counts[jobs.ItemSucceeded] < 3 || paused.Counts[jobs.ItemSucceeded] >= 20 ||
				paused.Counts[jobs.ItemQueued]+paused.Counts[jobs.ItemSucceeded] != 20 {
				t.Fatalf("paused batch = %s %v; want the in-flight items done and the rest waiting", paused.State, paused.Counts)
			}
			// A paused batch makes no progress while the workers are free: another batch, run
			// to the end meanwhile, shows they took every job there was.
			other, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
				Manifest: strings.NewReader(jobs.URLManifest(imgs.URL, otherItems)), Format: manifest.CSV})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.jobs.StartBatch(ctx, other.ID, jobs.ActionOptions{}); err != nil {
				t.Fatal(err)
			}
			waitBatch(t, b, other.ID, jobs.BatchDone)
			if again, _ := b.jobs.GetBatch(ctx, bt.ID); again.Counts[jobs.ItemSucceeded] != paused.Counts[jobs.ItemSucceeded] {
				t.Fatalf("a paused batch went on: %v then %v", paused.Counts, again.Counts)
			}

			if _, err := b.jobs.ResumeBatch(ctx, bt.ID, jobs.ActionOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.jobs.ResumeBatch(ctx, bt.ID, jobs.ActionOptions{}); err == nil {
				t.Error("resuming a running batch succeeded")
			}
			done := waitBatch(t, b, bt.ID, jobs.BatchDone)
			if done.Counts[jobs.ItemSucceeded] != 20 {
				t.Fatalf("after resume: %v, want 20 succeeded", done.Counts)
			}
			var jobsRun int
			if err := b.db.SQL.QueryRowContext(ctx, `SELECT count(DISTINCT id) FROM river_job WHERE kind = 'batch_item' AND state = 'completed'`).Scan(&jobsRun); err != nil {
				t.Fatal(err)
			}
			if jobsRun < 20+otherItems {
				t.Errorf("%d completed item jobs, want at least one per item (%d)", jobsRun, 20+otherItems)
			}
		})
	}
}
