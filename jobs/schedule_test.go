package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
)

// manifestServer serves CSV manifests at /<name>.csv whose rows name images under
// imgBase, rows[name] of them, or fails with fail[name] when that is set; it counts
// the requests for each name.
type manifestServer struct {
	*httptest.Server
	imgBase string
	mu      sync.Mutex
	rows    map[string]int
	fail    map[string]int
	hits    map[string]int
}

func newManifestServer(t *testing.T, imgBase string) *manifestServer {
	m := &manifestServer{imgBase: imgBase, rows: map[string]int{}, fail: map[string]int{}, hits: map[string]int{}}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".csv")
		m.mu.Lock()
		defer m.mu.Unlock()
		m.hits[name]++
		if code := m.fail[name]; code != 0 {
			http.Error(w, "manifest store down", code)
			return
		}
		w.Header().Set("Content-Type", "text/csv")
		fmt.Fprint(w, jobs.URLManifest(m.imgBase, m.rows[name]))
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *manifestServer) set(name string, rows, fail int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[name], m.fail[name] = rows, fail
}

func (m *manifestServer) requests(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits[name]
}

// createScheduled creates a batch of the first rows of the manifest name that re-reads
// it every minute.
func createScheduled(t *testing.T, b bundle, m *manifestServer, name string, rows int) jobs.Batch {
	t.Helper()
	bt, err := b.jobs.CreateBatch(context.Background(), jobs.BatchRequest{Name: name, Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
		Schedule: "* * * * *", ManifestURL: m.URL + "/" + name + ".csv", Format: manifest.CSV,
		Manifest: strings.NewReader(jobs.URLManifest(m.imgBase, rows))})
	if err != nil {
		t.Fatal(err)
	}
	return bt
}

// batchJSON is the batch as the API writes it (jobs.Batch through encoding/json).
func batchJSON(t *testing.T, b bundle, id string) map[string]any {
	t.Helper()
	bt, err := b.jobs.GetBatch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(bt)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// A scheduled batch's manifest is re-read only once the batch has been started: a draft,
// a batch in its trial and a ready one are never refreshed (a trial's sample and
// estimate are of the rows the batch had; and issue 12 found drafts re-read every
// minute, each read a chance to exhaust the server).
func TestScheduleSkipsUnstartedBatches(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setupBatch(t, dialect)
			ctx := context.Background()
			imgs := catalogImages(t, 8)
			m := newManifestServer(t, imgs.URL)
			// The trial of "trialling" waits on a source that answers only when the test
			// ends (this cleanup runs before the job service stops).
			release := make(chan struct{})
			stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				http.NotFound(w, r)
			}))
			t.Cleanup(stuck.Close)
			t.Cleanup(func() { close(release) })
			for _, name := range []string{"draft", "ready", "trialling", "running"} {
				m.set(name, 6, 0) // the manifests have grown from 3 rows to 6
			}

			draft := createScheduled(t, b, m, "draft", 3)
			ready := createScheduled(t, b, m, "ready", 3)
			if _, err := b.jobs.TrialBatch(ctx, ready.ID, 1); err != nil {
				t.Fatal(err)
			}
			waitBatch(t, b, ready.ID, jobs.BatchReady)
			tri, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Name: "trialling", Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
				Schedule: "* * * * *", ManifestURL: m.URL + "/trialling.csv", Format: manifest.CSV,
				Manifest: strings.NewReader(jobs.URLManifest(stuck.URL, 3))})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.jobs.TrialBatch(ctx, tri.ID, 1); err != nil {
				t.Fatal(err)
			}
			running := createScheduled(t, b, m, "running", 3)
			if _, err := b.jobs.StartBatch(ctx, running.ID, jobs.ActionOptions{}); err != nil {
				t.Fatal(err)
			}
			waitBatch(t, b, running.ID, jobs.BatchDone)

			// Two hours on, every schedule is due.
			if err := b.jobs.RunSchedules(ctx, time.Now().Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				bt     jobs.Batch
				states []string
			}{{draft, []string{jobs.BatchDraft}}, {ready, []string{jobs.BatchReady}},
				// Its sample times out after 20 s, and then it is ready.
				{tri, []string{jobs.BatchTrialling, jobs.BatchReady}}} {
				got, err := b.jobs.GetBatch(ctx, c.bt.ID)
				if err != nil {
					t.Fatal(err)
				}
				if n := m.requests(c.bt.Name); n != 0 || got.Total != 3 || !slices.Contains(c.states, got.State) {
					t.Errorf("%s batch after its schedule was due: %d manifest requests, total %d, state %s; want 0, 3, %v",
						c.bt.Name, n, got.Total, got.State, c.states)
				}
			}
			// The started batch is re-read (by this call or a periodic tick meanwhile) and
			// runs its new rows.
			done := waitFor(t, b, running.ID, "6 items succeeded", func(bt jobs.Batch) bool {
				return bt.State == jobs.BatchDone && bt.Counts[jobs.ItemSucceeded] == 6
			})
			if n := m.requests("running"); n < 1 || done.Total != 6 {
				t.Errorf("running batch: %d manifest requests, total %d; want at least 1 and 6", n, done.Total)
			}
		})
	}
}

// A failed re-read shows on the batch (its JSON's "refresh": failures, last_error,
// last_failure) and the next waits longer: 1, 2, 4 minutes for a batch scheduled every
// minute; a re-read that works clears the failure and the schedule applies again.
func TestScheduleRefreshFailureBacksOff(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			// No workers: no periodic tick runs the schedules behind the test's back.
			b := setupWith(t, options{dialect: dialect, loopback: true, jobs: func(c *jobs.Config) { c.Work = false }})
			ctx := context.Background()
			m := newManifestServer(t, "http://127.0.0.1:9/img")
			m.set("flaky", 3, http.StatusInternalServerError)
			bt := createScheduled(t, b, m, "flaky", 3)
			if _, err := b.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{}); err != nil {
				t.Fatal(err)
			}
			if r, ok := batchJSON(t, b, bt.ID)["refresh"].(map[string]any); !ok || r["failures"] != 0.0 || r["last_error"] != nil {
				t.Fatalf(`new batch's "refresh" = %v, want {"failures": 0}`, r)
			}
			now := time.Now().Add(time.Hour).Truncate(time.Minute).Add(17 * time.Second)
			for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
				if err := b.jobs.RunSchedules(ctx, now); err != nil {
					t.Fatal(err)
				}
				got := batchJSON(t, b, bt.ID)
				r, _ := got["refresh"].(map[string]any)
				if r == nil || r["failures"] != float64(i+1) || !strings.Contains(fmt.Sprint(r["last_error"]), "status 500") ||
					r["last_failure"] != now.UTC().Format(time.RFC3339Nano) {
					t.Fatalf(`after failure %d the batch's "refresh" = %v, want failures %d, last_error naming status 500, last_failure %s`,
						i+1, r, i+1, now.UTC().Format(time.RFC3339Nano))
				}
				next := now.Add(wait)
				if got["next_run"] != next.UTC().Format(time.RFC3339Nano) {
					t.Fatalf("after failure %d next_run = %v, want %s (%s later)", i+1, got["next_run"], next.UTC().Format(time.RFC3339Nano), wait)
				}
				// Not due before then, whatever the schedule says: no request.
				before := m.requests("flaky")
				if err := b.jobs.RunSchedules(ctx, next.Add(-time.Second)); err != nil {
					t.Fatal(err)
				}
				if n := m.requests("flaky"); n != before {
					t.Fatalf("after failure %d: %d more manifest requests before next_run, want 0", i+1, n-before)
				}
				now = next
			}
			if n := m.requests("flaky"); n != 3 {
				t.Errorf("manifest requests: got %d, want 3", n)
			}
			// It works again: the failure clears, the new rows come in, every minute again.
			m.set("flaky", 5, 0)
			if err := b.jobs.RunSchedules(ctx, now); err != nil {
				t.Fatal(err)
			}
			got := batchJSON(t, b, bt.ID)
			r, _ := got["refresh"].(map[string]any)
			if r == nil || r["failures"] != 0.0 || r["last_error"] != nil || r["last_success"] != now.UTC().Format(time.RFC3339Nano) {
				t.Errorf(`after a good re-read "refresh" = %v, want failures 0, no last_error, last_success %s`, r, now.UTC().Format(time.RFC3339Nano))
			}
			if want := now.Truncate(time.Minute).Add(time.Minute).UTC().Format(time.RFC3339Nano); got["next_run"] != want || got["total"] != 5.0 {
				t.Errorf("after a good re-read next_run %v total %v, want %s and 5", got["next_run"], got["total"], want)
			}
		})
	}
}
