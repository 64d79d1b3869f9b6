package main

// Durability of batches (issue 4), end to end with real processes: a batch survives a
// SIGKILL of its process (SQLite and PostgreSQL), two worker processes share a batch and
// one of them can stop mid-way, and an object store outage mid-batch loses no item.
//
// Run: set -a; . /tmp/leadenv/env; set +a; go test ./cmd/pictor -run Durab -v

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	_ "modernc.org/sqlite"

	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/internal/testenv"
	"github.com/pictor/pictor/internal/waitfor"
)

// durabItems is the number of distinct sources in each durability batch.
const durabItems = 200

// durabRecipe makes one small output per item, so renditions == distinct sources.
const durabRecipe = `{"steps":[{"op":"resize","width":100}],"outputs":[{"name":"t","format":"jpeg"}]}`

// heldSource serves durabItems distinct JPEGs from 127.0.0.1 with a delay per request.
// After budget requests it holds every further request (before answering) until
// release is called, so a test can stop a batch's progress at a known point with items
// stuck in flight. It counts requests per path.
type heldSource struct {
	srv     *httptest.Server
	files   map[string][]byte
	delay   time.Duration
	budget  atomic.Int64
	held    atomic.Int64
	release func()
	gate    chan struct{}

	mu   sync.Mutex
	hits map[string]int
}

func newHeldSource(t *testing.T, delay time.Duration, budget int64) *heldSource {
	t.Helper()
	s := &heldSource{files: map[string][]byte{}, delay: delay, gate: make(chan struct{}), hits: map[string]int{}}
	s.budget.Store(budget)
	var once sync.Once
	s.release = func() { once.Do(func() { close(s.gate) }) }
	for i := range durabItems {
		s.files[fmt.Sprintf("/p/%03d.jpg", i)] = photo(t, 120+i, 90)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := s.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		if s.budget.Add(-1) < 0 {
			s.held.Add(1)
			select {
			case <-s.gate:
			case <-r.Context().Done():
			}
			s.held.Add(-1)
			if r.Context().Err() != nil {
				return
			}
		}
		select {
		case <-time.After(s.delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(b)
	}))
	t.Cleanup(s.srv.Close)
	t.Cleanup(s.release) // before Close: held handlers must return
	return s
}

// hitCounts returns a copy of the requests per path so far.
func (s *heldSource) hitCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.hits))
	for k, v := range s.hits {
		out[k] = v
	}
	return out
}

// durabSKU is the SKU of the item whose source is path; durabPath is the reverse.
func durabSKU(path string) string {
	return "D-" + strings.TrimSuffix(strings.TrimPrefix(path, "/p/"), ".jpg")
}

func durabPath(sku string) string { return "/p/" + strings.TrimPrefix(sku, "D-") + ".jpg" }

// batchView is what the tests read of GET /v1/batches/{id}.
type batchView struct {
	ID     string         `json:"id"`
	State  string         `json:"state"`
	Total  int            `json:"total"`
	Counts map[string]int `json:"counts"`
	Error  string         `json:"error"`
}

// createDurabBatch uploads a CSV manifest of every source (url,sku) with durabRecipe
// and starts the batch.
func createDurabBatch(t *testing.T, s *server, src *heldSource) string {
	t.Helper()
	var manifest strings.Builder
	manifest.WriteString("url,sku\n")
	paths := make([]string, 0, len(src.files))
	for p := range src.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		fmt.Fprintf(&manifest, "%s%s,%s\n", src.srv.URL, p, durabSKU(p))
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("manifest", "items.csv")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(fw, manifest.String())
	mw.WriteField("recipe", durabRecipe)
	mw.WriteField("name", t.Name())
	mw.Close()
	var b batchView
	if r := s.call(t, "POST", "/v1/batches", mw.FormDataContentType(), &buf, &b); r.StatusCode != 201 || b.Total != durabItems {
		t.Fatalf("create batch: got %d %+v, want 201 with total %d", r.StatusCode, b, durabItems)
	}
	var started batchView
	if r := s.call(t, "POST", "/v1/batches/"+b.ID+"/start", "", nil, &started); r.StatusCode != 200 || started.State != "running" {
		t.Fatalf("start batch: got %d %+v, want 200 running", r.StatusCode, started)
	}
	return b.ID
}

// getBatch reads the batch, or reports a transport error (the server may be down).
func getBatch(s *server, id string) (batchView, error) {
	var b batchView
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/batches/"+id, nil)
	if err != nil {
		return b, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return b, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		data, _ := io.ReadAll(resp.Body)
		return b, fmt.Errorf("get batch: %d %s", resp.StatusCode, data)
	}
	return b, json.NewDecoder(resp.Body).Decode(&b)
}

// waitBatch polls the batch until cond holds, failing the test after limit. It is a
// bounded wait, not a timing assertion: cond says what must happen, limit how long a
// working system may take at most.
func waitBatch(t *testing.T, s *server, id string, limit time.Duration, what string, cond func(batchView) bool) batchView {
	t.Helper()
	var (
		last    batchView
		lastErr error
	)
	if !waitfor.Poll(limit, func() bool {
		b, err := getBatch(s, id)
		if err != nil {
			lastErr = err
			return false
		}
		last, lastErr = b, nil
		return cond(b)
	}) {
		t.Fatalf("batch %s: got state %q counts %v (last error %v) after %s, want %s", id, last.State, last.Counts, lastErr, limit, what)
	}
	return last
}

// checkResults reads the results CSV and checks that every item appears exactly once,
// succeeded with one rendition URL.
func checkResults(t *testing.T, s *server, id string) {
	t.Helper()
	r := s.call(t, "GET", "/v1/batches/"+id+"/results?format=csv", "", nil, nil)
	if r.StatusCode != 200 {
		t.Fatalf("results: got %d %s, want 200", r.StatusCode, body(r))
	}
	recs, err := csv.NewReader(r.Body).ReadAll()
	if err != nil {
		t.Fatalf("results csv: %v", err)
	}
	if len(recs) == 0 {
		t.Fatal("results csv: got no header, want one")
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, c := range []string{"sku", "state", "renditions", "source"} {
		if _, ok := col[c]; !ok {
			t.Fatalf("results header: got %v, want a %s column", recs[0], c)
		}
	}
	seen := map[string]int{}
	for _, rec := range recs[1:] {
		sku := rec[col["sku"]]
		seen[sku]++
		if st := rec[col["state"]]; st != "succeeded" {
			t.Errorf("result %s: got state %q (error %q), want succeeded", sku, st, rec[col["error"]])
		}
		if n := len(strings.Fields(rec[col["renditions"]])); n != 1 {
			t.Errorf("result %s: got %d rendition URLs, want 1", sku, n)
		}
		if !strings.HasSuffix(rec[col["source"]], durabPath(sku)) {
			t.Errorf("result %s: got source %q, want it to end in %s", sku, rec[col["source"]], durabPath(sku))
		}
	}
	if got := len(recs) - 1; got != durabItems {
		t.Errorf("results: got %d rows, want %d", got, durabItems)
	}
	for i := range durabItems {
		sku := fmt.Sprintf("D-%03d", i)
		if seen[sku] != 1 {
			t.Errorf("results: got sku %s %d times, want once", sku, seen[sku])
		}
	}
}

// checkDone checks the final batch: done, every item succeeded, none failed.
func checkDone(t *testing.T, b batchView) {
	t.Helper()
	if b.State != "done" || b.Total != durabItems || b.Counts["succeeded"] != durabItems || b.Counts["failed"] != 0 {
		t.Errorf("final batch: got state %q total %d counts %v, want done with %d succeeded and 0 failed", b.State, b.Total, b.Counts, durabItems)
	}
}

// countRows runs a count query against the database.
func countRows(t *testing.T, driver, dsn, query string) int {
	t.Helper()
	d, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int
	if err := d.QueryRowContext(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// checkRecords checks the database: one image and one rendition record per source,
// and every batch item job completed, none left over or duplicated.
func checkRecords(t *testing.T, driver, dsn string) {
	t.Helper()
	for _, c := range []struct {
		query string
		want  int
	}{
		{"SELECT count(*) FROM renditions", durabItems},
		{"SELECT count(DISTINCT source_sha256) FROM renditions", durabItems},
		{"SELECT count(*) FROM images", durabItems},
		{"SELECT count(*) FROM river_job WHERE kind = 'batch_item'", durabItems},
		{"SELECT count(*) FROM river_job WHERE kind = 'batch_item' AND state = 'completed'", durabItems},
	} {
		if got := countRows(t, driver, dsn, c.query); got != c.want {
			t.Errorf("%s: got %d, want %d", c.query, got, c.want)
		}
	}
}

// waitExit waits until the process pid is gone (reaped by startServer's waiter).
func waitExit(t *testing.T, pid int, limit time.Duration) {
	t.Helper()
	waitfor.Cond(t, limit, func() bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }, fmt.Sprintf("process %d to be gone", pid))
}

// pgMinIOEnv is a fresh PostgreSQL database and fresh buckets on the shared MinIO.
func pgMinIOEnv(t *testing.T) (env []string, dsn string) {
	t.Helper()
	s3 := testenv.S3(t)
	dsn = testenv.FreshPostgres(t)
	return []string{
		"PICTOR_DATABASE_URL=" + dsn,
		"PICTOR_S3_ENDPOINT=" + s3.Endpoint, "PICTOR_S3_ACCESS_KEY=" + s3.AccessKey, "PICTOR_S3_SECRET_KEY=" + s3.SecretKey,
		"PICTOR_S3_BUCKET_ORIGINALS=" + testenv.Bucket(t, "orig"), "PICTOR_S3_BUCKET_RENDITIONS=" + testenv.Bucket(t, "rend"),
	}, dsn
}

// durabBase is what every durability process runs with.
var durabBase = []string{"PICTOR_FETCH_ALLOWED_NETS=127.0.0.0/8", "PICTOR_RATE_LIMIT=0"}

// TestDurabilityKillMidBatch: kill -9 the process in the middle of a batch, start it
// again: the batch finishes with every item done exactly once.
func TestDurabilityKillMidBatch(t *testing.T) {
	t.Parallel()
	type shape struct {
		env    []string
		driver string
		dsn    func() string // read after the last server stopped
	}
	shapes := map[string]func(t *testing.T) shape{
		"sqlite": func(t *testing.T) shape {
			dir := t.TempDir()
			return shape{env: []string{"PICTOR_DATA_DIR=" + dir}, driver: "sqlite",
				dsn: func() string { return "file:" + filepath.Join(dir, db.SQLiteFile) + "?mode=ro" }}
		},
		"postgres": func(t *testing.T) shape {
			env, dsn := pgMinIOEnv(t)
			return shape{env: env, driver: "pgx", dsn: func() string { return dsn }}
		},
	}
	for name, mk := range shapes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sh := mk(t)
			// Jobs orphaned by the kill run again as soon as the restarted process sees
			// their process dead (its lock file on SQLite, its heartbeat on PostgreSQL), not
			// after PICTOR_JOB_RESCUE_AFTER.
			env := append(slices.Clone(durabBase), sh.env...)
			const budget = 60 // 30% of the items are fetched, then the source holds
			src := newHeldSource(t, 25*time.Millisecond, budget)

			s1 := startServer(t, env...)
			id := createDurabBatch(t, s1, src)
			at := waitBatch(t, s1, id, 60*time.Second, "at least 20% succeeded and an item stuck mid-fetch", func(b batchView) bool {
				return b.Counts["succeeded"] >= durabItems/5 && src.held.Load() > 0
			})
			// Items that succeeded before the kill must never be done again.
			doneBefore := map[string]bool{}
			r := s1.call(t, "GET", "/v1/batches/"+id+"/results?format=csv", "", nil, nil)
			recs, err := csv.NewReader(r.Body).ReadAll()
			if err != nil || len(recs) < 1 {
				t.Fatalf("results before kill: %v %v", err, recs)
			}
			for _, rec := range recs[1:] {
				if rec[3] == "succeeded" {
					doneBefore[rec[2]] = true
				}
			}
			heldAtKill := src.held.Load()
			if err := s1.cmd.Process.Kill(); err != nil {
				t.Fatalf("kill: %v", err)
			}
			waitExit(t, s1.cmd.Process.Pid, 10*time.Second)
			if got := at.Counts["succeeded"]; got > durabItems*6/10 || got > budget {
				t.Fatalf("succeeded before kill: got %d, want at most %d (mid-batch)", got, min(budget, durabItems*6/10))
			}
			if len(doneBefore) < durabItems/5 {
				t.Fatalf("succeeded rows before kill: got %d, want at least %d", len(doneBefore), durabItems/5)
			}
			t.Logf("killed with %d succeeded, %d held mid-fetch", len(doneBefore), heldAtKill)
			src.release()

			s2 := startServer(t, env...)
			final := waitBatch(t, s2, id, 90*time.Second, `state "done" after the restart (orphaned jobs rescued)`, func(b batchView) bool {
				return b.State == "done"
			})
			checkDone(t, final)
			checkResults(t, s2, id)
			for path, n := range src.hitCounts() {
				if n > 2 {
					t.Errorf("source %s: got %d fetches, want at most 2", path, n)
				}
				if doneBefore[durabSKU(path)] && n != 1 {
					t.Errorf("source %s: got %d fetches, want 1 (it succeeded before the kill)", path, n)
				}
			}
			if got := len(src.hitCounts()); got != durabItems {
				t.Errorf("sources fetched: got %d, want %d", got, durabItems)
			}
			// Stop the server before reading its database.
			s2.cmd.Process.Signal(os.Interrupt)
			waitExit(t, s2.cmd.Process.Pid, 30*time.Second)
			checkRecords(t, sh.driver, sh.dsn())
		})
	}
}

// workerProc is a running `pictor worker` process.
type workerProc struct {
	*server
	done chan struct{}
	err  error // valid once done is closed
}

// startWorker runs pictor worker on a free loopback port with env added to a clean
// environment, and stops it when the test ends.
func startWorker(t *testing.T, env ...string) *workerProc {
	t.Helper()
	cmd := exec.Command(binary, "worker")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PICTOR_DATA_DIR=" + t.TempDir(),
		"PICTOR_LOG_LEVEL=warn", "PICTOR_ADDR=127.0.0.1:0"}, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProc{done: make(chan struct{})}
	go func() { w.err = cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-w.done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-w.done
		}
		if t.Failed() {
			t.Logf("worker %d log:\n%s", cmd.Process.Pid, logs.String())
		}
	})
	addr, running := make(chan string, 1), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "pictor worker listening on "); ok {
				addr <- u
			}
			if sc.Text() == "pictor worker running" {
				close(running)
			}
		}
	}()
	select {
	case u := <-addr:
		w.server = &server{base: u, cmd: cmd, logs: logs}
	case <-w.done:
		t.Fatalf("pictor worker exited at start:\n%s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("pictor worker did not start:\n%s", logs.String())
	}
	select {
	case <-running:
	case <-w.done:
		t.Fatalf("pictor worker exited at start:\n%s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("pictor worker did not say it runs:\n%s", logs.String())
	}
	return w
}

// TestDurabilityTwoWorkers: two pictor worker processes on one PostgreSQL and one MinIO
// share a batch with no item done twice; stopping one mid-way leaves the other to finish.
func TestDurabilityTwoWorkers(t *testing.T) {
	t.Parallel()
	env, dsn := pgMinIOEnv(t)
	env = append(slices.Clone(durabBase), env...)
	const budget = 80 // 40% of the items are fetched, then the source holds
	src := newHeldSource(t, 25*time.Millisecond, budget)

	api := startServer(t, append(slices.Clone(env), "PICTOR_SERVE_WORKERS=false")...)
	workers := []*workerProc{startWorker(t, env...), startWorker(t, env...)}
	id := createDurabBatch(t, api, src)
	waitBatch(t, api, id, 60*time.Second, "at least 20% succeeded and items held mid-fetch", func(b batchView) bool {
		return b.Counts["succeeded"] >= durabItems/5 && src.held.Load() > 0
	})
	// Stop the worker that has done more so far (both should have done some).
	runs := []float64{metric(t, workers[0].server, "pictor_pipeline_runs_total"), metric(t, workers[1].server, "pictor_pipeline_runs_total")}
	stop, keep := workers[0], workers[1]
	stopRuns := runs[0]
	if runs[1] > runs[0] {
		stop, keep, stopRuns = workers[1], workers[0], runs[1]
	}
	t.Logf("pipeline runs before the stop: %v; %d held mid-fetch", runs, src.held.Load())
	if stopRuns < 1 {
		t.Errorf("worker to stop: got %v pipeline runs, want some", stopRuns)
	}
	if err := stop.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("sigterm: %v", err)
	}
	// Its probe listener closes first, then its job client stops fetching and waits
	// for its running items; let them go on once it is shutting down.
	waitfor.Cond(t, 20*time.Second, func() bool {
		resp, err := http.Get(stop.base + "/healthz")
		if err != nil {
			return true
		}
		resp.Body.Close()
		return false
	}, "the stopped worker's /healthz to close after SIGTERM")
	src.release()
	select {
	case <-stop.done:
		if stop.err != nil {
			t.Errorf("stopped worker: got exit %v, want a clean exit", stop.err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("stopped worker: still running 45s after SIGTERM, want a graceful exit")
	}
	mid, err := getBatch(api, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the stop: %v", mid.Counts)
	final := waitBatch(t, api, id, 90*time.Second, `state "done" with one worker left`, func(b batchView) bool {
		return b.State == "done"
	})
	checkDone(t, final)
	checkResults(t, api, id)
	if got := metric(t, keep.server, "pictor_pipeline_runs_total"); got < 1 || got > durabItems-stopRuns {
		t.Errorf("remaining worker: got %v pipeline runs, want 1..%v", got, durabItems-stopRuns)
	}
	// No item done twice: every source fetched exactly once.
	hits := src.hitCounts()
	if len(hits) != durabItems {
		t.Errorf("sources fetched: got %d, want %d", len(hits), durabItems)
	}
	for path, n := range hits {
		if n != 1 {
			t.Errorf("source %s: got %d fetches, want 1", path, n)
		}
	}
	checkRecords(t, "pgx", dsn)
}

// storeRecoveryLimit is how long the batch may take to finish once the store is back.
const storeRecoveryLimit = 40 * time.Second

// TestDurabilityStoreOutage: MinIO stopped mid-batch until items have found it down
// twice: items wait and retry, none is lost.
func TestDurabilityStoreOutage(t *testing.T) {
	t.Parallel()
	s3, stopMinIO, startMinIO := testenv.StartMinIO(t)
	dsn := testenv.FreshPostgres(t)
	rendBucket := testenv.Bucket(t, "rend")
	env := append(slices.Clone(durabBase),
		"PICTOR_DATABASE_URL="+dsn,
		"PICTOR_S3_ENDPOINT="+s3.Endpoint, "PICTOR_S3_ACCESS_KEY="+s3.AccessKey, "PICTOR_S3_SECRET_KEY="+s3.SecretKey,
		"PICTOR_S3_BUCKET_ORIGINALS="+testenv.Bucket(t, "orig"), "PICTOR_S3_BUCKET_RENDITIONS="+rendBucket)
	const budget = 60
	src := newHeldSource(t, 25*time.Millisecond, budget)
	s := startServer(t, env...)
	id := createDurabBatch(t, s, src)
	waitBatch(t, s, id, 60*time.Second, "at least 20% succeeded and items held mid-fetch", func(b batchView) bool {
		return b.Counts["succeeded"] >= durabItems/5 && src.held.Load() > 0
	})
	stopMinIO()
	src.release()
	outage := time.Now()
	// The outage lasts until items have met it more than once: an item that found the
	// store down is snoozed (River counts it in its job's metadata) and tried again later.
	waitfor.Cond(t, 60*time.Second, func() bool {
		return countRows(t, "pgx", dsn, `SELECT count(*) FROM river_job WHERE kind = 'batch_item'
			AND COALESCE((metadata->>'snoozes')::int, 0) >= 2`) > 0
	}, "an item to find the store down twice (snoozed twice)")
	during, err := getBatch(s, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after %s without MinIO: state %s counts %v", time.Since(outage).Round(time.Second), during.State, during.Counts)
	if during.Counts["succeeded"] >= durabItems || during.State == "done" {
		t.Fatalf("during the outage: got %v %s, want items still waiting", during.Counts, during.State)
	}
	if during.Counts["failed"] != 0 {
		t.Errorf("during the outage: got %d failed, want 0 (items wait and retry)", during.Counts["failed"])
	}
	startMinIO()
	back := time.Now()
	// Items that found the store down were snoozed for the job service's outage retry
	// (5s) and try again on their own; none spent an attempt.
	final := waitBatch(t, s, id, storeRecoveryLimit, `state "done" after MinIO came back`, func(b batchView) bool {
		return b.State == "done"
	})
	t.Logf("done %s after the outage began, %s after MinIO came back", time.Since(outage).Round(time.Second), time.Since(back).Round(time.Second))
	checkDone(t, final)
	checkResults(t, s, id)
	checkRecords(t, "pgx", dsn)
	// Every rendition is in the store.
	mc, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	objects := 0
	for o := range mc.ListObjects(ctx, rendBucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list renditions: %v", o.Err)
		}
		objects++
	}
	if objects != durabItems {
		t.Errorf("rendition objects: got %d, want %d", objects, durabItems)
	}
}

// productShots are n product photos (a red box of varying width on plain white) as PNG,
// served at /p/<i>.png.
func productShots(t *testing.T, n int) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 320, 240))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		draw.Draw(img, image.Rect(100, 60, 200+i*5, 180), image.NewUniform(color.RGBA{200, 40, 30, 255}), image.Point{}, draw.Src)
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		files[fmt.Sprintf("/p/%d.png", i)] = buf.Bytes()
	}
	return files
}

// pictor batch submit --trial against a real server: the trial runs as a job, its report
// names the failing check with before/after URLs and the cost in the configured
// currency, and a batch below min_accuracy is not started (exit status non-zero) until
// forced.
func TestBatchTrialGateEndToEnd(t *testing.T) {
	src := sources(t, productShots(t, 4))
	s := startServer(t, "PICTOR_FETCH_ALLOWED_NETS=127.0.0.0/8", "PICTOR_COST_CPU_SECOND=0.5", "PICTOR_COST_CURRENCY=eur")
	manifest := filepath.Join(t.TempDir(), "m.csv")
	var m strings.Builder
	m.WriteString("url\n")
	for i := range 4 {
		fmt.Fprintf(&m, "%s/p/%d.png\n", src.URL, i)
	}
	if err := os.WriteFile(manifest, []byte(m.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Classic matting is an AI-class step; no box fills 99% of the frame.
	recipe := `{"steps":[{"op":"remove_background","engine":"classic"},{"op":"background","color":"#ffffff"}],` +
		`"outputs":[{"name":"main","format":"jpeg","checks":{"product_fill_min":0.99}}]}`
	deps := batchDeps{client: &http.Client{Timeout: time.Minute}, poll: 20 * time.Millisecond, lineEvery: 1, trialWait: 2 * time.Minute}
	env := envOf(map[string]string{"PICTOR_SERVER": s.base})
	var out, errOut bytes.Buffer
	err := runBatch(context.Background(), []string{"submit", manifest, "--recipe", recipe, "--trial", "4"}, env, &out, &errOut, deps)
	if err == nil || !strings.Contains(err.Error(), "not started: trial accuracy 0.0% is below min_accuracy 95.0%") {
		t.Fatalf("submit --trial: got %v, want a refusal below min_accuracy (stderr %s)", err, errOut.String())
	}
	id := strings.TrimSpace(out.String())
	for _, want := range []string{"trial 0/4", "accuracy: 0.0%", "failures per check: product_fill 4", "fail: product_fill=",
		"before " + s.base + "/v1/images/", "after  ", " EUR"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr: got %q, want it to contain %q", errOut.String(), want)
		}
	}
	var bt struct {
		State string `json:"state"`
	}
	s.call(t, "GET", "/v1/batches/"+id, "", nil, &bt)
	if bt.State != "ready" {
		t.Fatalf("batch %s after the refusal: state %q, want ready (not started)", id, bt.State)
	}
	// The server refuses too, with the report; --force starts it.
	r := s.call(t, "POST", "/v1/batches/"+id+"/start", "", nil, nil)
	if b := body(r); r.StatusCode != http.StatusConflict || !strings.Contains(b, `"trial":`) || !strings.Contains(b, `"product_fill":4`) {
		t.Errorf("start: got %d %s, want 409 with the trial report", r.StatusCode, b)
	}
	out.Reset()
	errOut.Reset()
	if err := runBatch(context.Background(), []string{"start", id, "--force", "--wait"}, env, &out, &errOut, deps); err != nil {
		t.Fatalf("start --force --wait: %v (stderr %s)", err, errOut.String())
	}
	r = s.call(t, "GET", "/v1/batches/"+id+"/results?format=csv", "", nil, nil)
	if b := body(r); strings.Count(b, ",pending,fail: product_fill") != 4 {
		t.Errorf("results: got %q, want 4 rows held for review with the failing check", b)
	}
}
