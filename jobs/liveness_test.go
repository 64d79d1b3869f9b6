package jobs_test

// A process killed with SIGKILL mid-batch (issue 12, item 11): the items it held run
// again at once on SQLite when the service restarts, and within 30 s on PostgreSQL in the
// workers still alive, while their own long jobs, alive and heartbeating, never run twice.
// The killed process is this test binary run again as a child (TestJobsWorkerProcess).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/internal/testenv"
	"github.com/pictor/pictor/internal/waitfor"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
	"github.com/pictor/pictor/storage"
)

// nodeSpec says where a node's database and objects are: a PostgreSQL URL, or "" for the
// SQLite file in Dir.
type nodeSpec struct {
	URL          string `json:"url"`
	Dir          string `json:"dir"`
	BatchWorkers int    `json:"batch_workers"`
}

// childSpecEnv carries a nodeSpec (JSON) to TestJobsWorkerProcess in a child process.
const childSpecEnv = "PICTOR_JOBS_TEST_WORKER"

// node is one process's view of the shared database: a catalog and a job service.
type node struct {
	db   *db.DB
	cat  *catalog.Service
	jobs *jobs.Service
}

// openNode opens the spec's database and store, migrates, and starts a job service that
// works with sp.BatchWorkers batch workers, or only inserts when that is 0. Its fetcher
// reaches loopback and waits up to 2 minutes, so a held source holds the item. close
// stops and closes it (the test's end does too).
func openNode(t *testing.T, sp nodeSpec, log *slog.Logger) (n node, close func()) {
	t.Helper()
	ctx := context.Background()
	dc := db.DefaultConfig()
	dc.URL, dc.DataDir = sp.URL, sp.Dir
	d, err := db.Open(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.NewLocal(storage.LocalConfig{Dir: filepath.Join(sp.Dir, "objects")})
	if err != nil {
		t.Fatal(err)
	}
	fc := fetch.DefaultConfig()
	fc.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	fc.Timeout = 2 * time.Minute
	f, err := fetch.New(fc)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New(catalog.DefaultConfig(), catalog.Deps{DB: d, Store: st, Fetcher: f, Gate: imaging.NewGate(2, 64)})
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Init(ctx); err != nil {
		t.Fatal(err)
	}
	jc := jobs.DefaultConfig()
	jc.Work = sp.BatchWorkers > 0
	jc.BatchWorkers, jc.InteractiveWorkers, jc.MaintenanceWorkers = max(sp.BatchWorkers, 1), 1, 1
	js, err := jobs.New(jc, jobs.Deps{DB: d, Catalog: cat, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := js.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := js.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	close = func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			js.Stop(sctx)
			d.Close()
		})
	}
	t.Cleanup(close)
	return node{db: d, cat: cat, jobs: js}, close
}

// TestJobsWorkerProcess is the worker process the kill tests start and kill: it works
// the spec's database until killed, or for two minutes at most. Run alone it skips.
func TestJobsWorkerProcess(t *testing.T) {
	raw := os.Getenv(childSpecEnv)
	if raw == "" {
		t.Skip("the kill tests run this in a child process")
	}
	var sp nodeSpec
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		t.Fatal(err)
	}
	openNode(t, sp, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	fmt.Println("worker process working")
	// The parent kills it; should the parent go first, its end of stdin closes.
	gone := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(gone) }()
	select {
	case <-gone:
	case <-time.After(2 * time.Minute):
	}
}

// workerProcess is a running TestJobsWorkerProcess.
type workerProcess struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once it has exited and been waited for
}

// startWorkerProcess runs TestJobsWorkerProcess in a child process on sp and returns once
// it works; its output is logged if the test fails.
func startWorkerProcess(t *testing.T, sp nodeSpec) *workerProcess {
	t.Helper()
	raw, _ := json.Marshal(sp)
	cmd := exec.Command(os.Args[0], "-test.run=^TestJobsWorkerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childSpecEnv+"="+string(raw))
	var logs syncBuffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("worker process %d:\n%s", cmd.Process.Pid, logs.String())
		}
	})
	working := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "worker process working" {
				close(working)
			}
			logs.Write(append(sc.Bytes(), '\n'))
		}
		cmd.Wait()
		close(exited)
	}()
	select {
	case <-working:
	case <-exited:
		t.Fatalf("the worker process exited before it worked: %s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the worker process did not start working within 30 s: %s", logs.String())
	}
	return &workerProcess{cmd: cmd, exited: exited}
}

// kill sends SIGKILL and waits (up to 10 s) until the process has gone.
func (w *workerProcess) kill(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	select {
	case <-w.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("process %d still there 10 s after SIGKILL", w.cmd.Process.Pid)
	}
	if st := w.cmd.ProcessState; st == nil || st.Success() || !strings.Contains(st.String(), "killed") {
		t.Fatalf("worker process: %v, want killed", st)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// heldSource serves n distinct JPEGs at /img/<i>.jpg. While holding, a path's first
// request is held (and announced on first) until release or the client goes; every
// later request of a path is answered at once and announced on again.
type heldSource struct {
	*httptest.Server
	imgs        [][]byte
	first       chan int
	again       chan int
	releaseOnce sync.Once
	release     chan struct{}
	mu          sync.Mutex
	holding     bool
	hits        map[int]int
}

func newHeldSource(t *testing.T, n int) *heldSource {
	h := &heldSource{first: make(chan int, n), again: make(chan int, 4*n), release: make(chan struct{}), holding: true, hits: map[int]int{}}
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 64+i, 48))
		for p := range img.Pix {
			img.Pix[p] = uint8(p*(i+5)) | 0x20
		}
		var buf bytes.Buffer
		jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
		h.imgs = append(h.imgs, buf.Bytes())
	}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		if _, err := fmt.Sscanf(r.URL.Path, "/img/%d.jpg", &i); err != nil || i < 0 || i >= n {
			http.NotFound(w, r)
			return
		}
		h.mu.Lock()
		h.hits[i]++
		hold, firstHit := h.holding && h.hits[i] == 1, h.hits[i] == 1
		h.mu.Unlock()
		if hold {
			h.first <- i
			select {
			case <-h.release:
			case <-r.Context().Done():
				return
			}
		} else if !firstHit {
			h.again <- i
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(h.imgs[i])
	}))
	t.Cleanup(func() { h.releaseAll(); h.Close() })
	return h
}

// stopHolding answers new first requests at once.
func (h *heldSource) stopHolding() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holding = false
}

// releaseAll answers the held requests.
func (h *heldSource) releaseAll() { h.releaseOnce.Do(func() { close(h.release) }) }

func (h *heldSource) hitCounts() map[int]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.hits)
}

// receive takes k values from ch within d.
func receive(t *testing.T, ch <-chan int, k int, d time.Duration, what string) []int {
	t.Helper()
	var got []int
	timeout := time.After(d)
	for len(got) < k {
		select {
		case i := <-ch:
			got = append(got, i)
		case <-timeout:
			t.Fatalf("waited %s for %s: got %v of %d", d, what, got, k)
		}
	}
	slices.Sort(got)
	return got
}

// createRunningBatch creates and starts a batch of the source's n images through an
// insert-only node.
func createRunningBatch(t *testing.T, n node, src *heldSource, items int) string {
	t.Helper()
	ctx := context.Background()
	bt, err := n.jobs.CreateBatch(ctx, jobs.BatchRequest{Name: "kill", Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
		Manifest: strings.NewReader(jobs.URLManifest(src.URL, items)), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.jobs.StartBatch(ctx, bt.ID, jobs.ActionOptions{}); err != nil {
		t.Fatal(err)
	}
	return bt.ID
}

// waitBatchDone waits until the batch is done, for at most d, and checks every item succeeded.
func waitBatchDone(t *testing.T, n node, id string, items int, d time.Duration) {
	t.Helper()
	var bt jobs.Batch
	waitfor.Cond(t, d, func() bool {
		var err error
		if bt, err = n.jobs.GetBatch(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return bt.State == jobs.BatchDone
	}, "batch "+id+" done")
	if bt.Counts[jobs.ItemSucceeded] != items {
		t.Fatalf("batch done with counts %v, want %d succeeded", bt.Counts, items)
	}
}

// rerunJobs counts the batch item jobs that were attempted more than once.
func rerunJobs(t *testing.T, n node) int {
	t.Helper()
	var k int
	if err := n.db.SQL.QueryRowContext(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'batch_item' AND attempt > 1`).Scan(&k); err != nil {
		t.Fatal(err)
	}
	return k
}

// SQLite: one process holds the database. Killed mid-batch and started again, the new
// process takes back the items the dead one held before its first fetch, not after
// PICTOR_JOB_RESCUE_AFTER (5 minutes, left at its default here).
func TestKilledProcessResumesSQLite(t *testing.T) {
	t.Parallel()
	const items, held = 6, 2
	src := newHeldSource(t, items)
	sp := nodeSpec{Dir: t.TempDir()}
	setup, closeSetup := openNode(t, sp, nil)
	id := createRunningBatch(t, setup, src, items)
	closeSetup()

	sp.BatchWorkers = held
	child := startWorkerProcess(t, sp)
	heldRows := receive(t, src.first, held, 30*time.Second, "the worker process to take its items")
	child.kill(t)
	killed := time.Now()
	src.stopHolding()

	sp.BatchWorkers = 4
	restarted, _ := openNode(t, sp, nil)
	started := time.Since(killed)
	again := receive(t, src.again, held, 30*time.Second, "the dead process's items to run again")
	resumed := time.Since(killed)
	if !slices.Equal(again, heldRows) {
		t.Errorf("rows run again: got %v, want the held rows %v", again, heldRows)
	}
	waitBatchDone(t, restarted, id, items, 30*time.Second)
	done := time.Since(killed)
	t.Logf("sqlite: kill -9 with %d items held; restarted in %s; those items running again %s after the kill; batch done after %s",
		held, started.Round(time.Millisecond), resumed.Round(time.Millisecond), done.Round(time.Millisecond))
	if resumed-started > 5*time.Second {
		t.Errorf("the held items ran again %s after the restart, want at once (under 5 s)", resumed-started)
	}
	for i, n := range src.hitCounts() {
		if want := 1 + btoi(slices.Contains(heldRows, i)); n != want {
			t.Errorf("source %d fetched %d times, want %d", i, n, want)
		}
	}
	if k := rerunJobs(t, restarted); k != held {
		t.Errorf("batch item jobs attempted twice: got %d, want %d (the killed process's)", k, held)
	}
}

// PostgreSQL: a worker killed with SIGKILL; the worker still alive runs its jobs within
// 30 s, and its own items, fetching for longer than the dead-after delay plus two
// heartbeats, are never taken from it.
func TestKilledWorkerTakenOverPostgres(t *testing.T) {
	t.Parallel()
	const items, held = 4, 2
	src := newHeldSource(t, items)
	sp := nodeSpec{URL: testenv.FreshPostgres(t), Dir: t.TempDir()}
	setup, _ := openNode(t, sp, nil)
	id := createRunningBatch(t, setup, src, items)

	sp.BatchWorkers = held
	child := startWorkerProcess(t, sp)
	deadRows := receive(t, src.first, held, 30*time.Second, "the worker process to take its items")
	// The live worker takes the other items (held: a long job) and keeps slots free.
	sp.BatchWorkers = 2 * held
	live, _ := openNode(t, sp, nil)
	liveRows := receive(t, src.first, items-held, 30*time.Second, "the live worker to take the other items")
	liveSince := time.Now()

	child.kill(t)
	killed := time.Now()
	again := receive(t, src.again, held, 30*time.Second, "the live worker to run the dead worker's items")
	resumed := time.Since(killed)
	if !slices.Equal(again, deadRows) {
		t.Errorf("rows run again: got %v, want the dead worker's rows %v", again, deadRows)
	}
	// The live worker's own items have run longer than a dead worker's heartbeat may be
	// silent, and another two heartbeats on: still one fetch each.
	liveFor := jobs.DefaultConfig().DeadAfter + 2*jobs.DefaultConfig().Heartbeat
	select {
	case i := <-src.again:
		t.Fatalf("row %d fetched again while its worker was alive", i)
	case <-time.After(time.Until(liveSince.Add(liveFor))):
	}
	longest := time.Since(liveSince)
	src.releaseAll()
	waitBatchDone(t, live, id, items, 30*time.Second)
	t.Logf("postgres: kill -9 of a worker holding %d items; the live worker ran them again %s after the kill; its own %d items ran %s each, once",
		held, resumed.Round(time.Millisecond), items-held, longest.Round(time.Millisecond))
	for i, n := range src.hitCounts() {
		if want := 1 + btoi(slices.Contains(deadRows, i)); n != want {
			t.Errorf("source %d (dead worker's %v, live %v) fetched %d times, want %d", i, deadRows, liveRows, n, want)
		}
	}
	if k := rerunJobs(t, live); k != held {
		t.Errorf("batch item jobs attempted twice: got %d, want %d (the killed worker's)", k, held)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
