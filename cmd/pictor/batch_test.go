package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pictor/pictor/api"
	"github.com/pictor/pictor/checks"
	"github.com/pictor/pictor/jobs"
)

// fakeStep is what one poll of a started batch shows.
type fakeStep struct {
	succeeded, failed, skipped, running int
	state                               string // "" is running
}

// fakeBatches fakes the batch routes of the API for one batch, bat_1: the upload makes
// it a draft of total items, trial makes it ready, start runs it, and each GET of a
// running or paused batch shows the next step of script (the last one repeats). Set its fields
// before the first url(), which starts it.
type fakeBatches struct {
	t      *testing.T
	srv    *httptest.Server
	key    string // required Bearer key; "" for an open service
	total  int
	script []fakeStep
	// onPoll, when set, is called with the number of each GET of the running batch; a
	// non-zero status answers that poll with a problem of that status instead.
	onPoll  func(n int) int
	results map[string]string // format -> body

	// accuracy is the trial's accuracy (of 4 judged samples: 1, 0.75, 0.5, 0.25 or 0);
	// minAccuracy the batch's threshold (0.95 unless the upload says); unpriced leaves
	// the estimate's cost out, with the note.
	accuracy    float64
	minAccuracy float64
	unpriced    bool

	once     sync.Once
	mu       sync.Mutex
	state    string
	step     fakeStep
	trial    bool
	trialGet int // GETs of the trialling batch: each runs one more sample
	polls    int
	calls    []string // "METHOD /path"
	upload   fakeUpload
	trialIn  string            // the body of the trial POST
	actionIn map[string]string // the body of each other action POST
}

// fakeUpload is what POST /v1/batches carried.
type fakeUpload struct {
	fields        map[string]string
	fileName      string
	size          int64
	sum           [32]byte
	contentLength int64
	chunked       bool
	order         []string
}

func newFakeBatches(t *testing.T, total int, script ...fakeStep) *fakeBatches {
	t.Helper()
	f := &fakeBatches{t: t, total: total, script: script, accuracy: 1, minAccuracy: 0.95, actionIn: map[string]string{}, results: map[string]string{
		"csv":   "row,url,state,error\n1,https://example.com/1.jpg,succeeded,\n2,https://example.com/2.jpg,failed,boom\n",
		"jsonl": `{"row":1,"state":"succeeded"}` + "\n" + `{"row":2,"state":"failed"}` + "\n",
	}}
	return f
}

// url starts the fake, once, and returns its base URL.
func (f *fakeBatches) url() string {
	f.once.Do(f.startServer)
	return f.srv.URL
}

func (f *fakeBatches) startServer() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/batches", f.create)
	mux.HandleFunc("GET /v1/batches", f.list)
	mux.HandleFunc("GET /v1/batches/{id}", f.get)
	mux.HandleFunc("POST /v1/batches/{id}/{action}", f.action)
	mux.HandleFunc("GET /v1/batches/{id}/results", f.resultsRoute)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		if f.key != "" && r.Header.Get("Authorization") != "Bearer "+f.key {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pictor"`)
			writeFakeProblem(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "send an API key as Authorization: Bearer KEY")
			return
		}
		mux.ServeHTTP(w, r)
	}))
	f.t.Cleanup(f.srv.Close)
}

// got returns what the upload and the trial carried.
func (f *fakeBatches) got() (fakeUpload, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.upload, f.trialIn
}

func writeFakeProblem(w http.ResponseWriter, status int, slug, title, detail string) {
	w.Header().Set("Content-Type", api.ProblemContentType)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Problem{Type: api.ProblemTypePrefix + slug, Title: title, Status: status, Detail: detail})
}

// batchLocked is the batch as the API shows it; f.mu is held.
func (f *fakeBatches) batchLocked() jobs.Batch {
	s := f.step
	b := jobs.Batch{
		ID: "bat_1", Name: f.upload.fields["name"], State: f.state, Total: f.total,
		BadRows: 2, BadRowList: []jobs.BadRow{{Row: 3, Message: "url is not http(s)"}, {Row: 7, Message: "no url\x1b[31m or image_id"}},
		Counts: map[string]int{
			jobs.ItemQueued: f.total - s.succeeded - s.failed - s.skipped - s.running, jobs.ItemRunning: s.running,
			jobs.ItemSucceeded: s.succeeded, jobs.ItemFailed: s.failed, jobs.ItemSkipped: s.skipped,
		},
		Recipe:    json.RawMessage(`{"steps":[]}`),
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if f.state == jobs.BatchRunning {
		b.Rate = 2.5
		b.ETASeconds = float64(b.Counts[jobs.ItemQueued]+s.running) / 2.5
	}
	b.MinAccuracy = f.minAccuracy
	if f.trial {
		b.Trial = f.trialLocked()
		if b.Trial.Done {
			b.Estimate = &jobs.Estimate{Items: f.total, PassRate: 0.8, GPUSeconds: 120, CPUSeconds: 30, Bytes: 2_500_000,
				WallSeconds: 3700, Workers: 4, Backends: 2}
			if f.unpriced {
				b.Estimate.Note = "no prices configured: set PICTOR_COST_GPU_SECOND, PICTOR_COST_CPU_SECOND or PICTOR_COST_GB_MONTH (and PICTOR_COST_CURRENCY)"
			} else {
				cost, per := 1.25, 0.125
				b.Estimate.Priced, b.Estimate.Currency, b.Estimate.Cost, b.Estimate.CostPerItem = true, "EUR", &cost, &per
			}
		}
	}
	return b
}

// trialLocked is the trial as far as it has run: 5 samples, row 2 left out by the
// filter, the other 4 judged, the first int(4*(1-accuracy)) of them failing product_fill.
func (f *fakeBatches) trialLocked() *jobs.Trial {
	t := &jobs.Trial{Progress: jobs.TrialProgress{Done: min(f.trialGet, 5), Total: 5}, Failures: map[string]int{}, Failing: []jobs.TrialSample{}}
	failing := int(4*(1-f.accuracy) + 0.5)
	for i := range t.Progress.Done {
		s := jobs.TrialSample{Row: i + 1, Source: fmt.Sprintf("https://example.com/%d.jpg", i+1), Passed: true,
			BeforeURL: fmt.Sprintf("/v1/images/img_%d/content", i+1), AfterURL: fmt.Sprintf("/v1/renditions/r%d/content", i+1), Verdict: jobs.VerdictPass}
		switch {
		case i == 1:
			s.Passed, s.Verdict, s.AfterURL = false, jobs.VerdictSkipped, ""
		case failing > 0:
			failing--
			s.Verdict = jobs.VerdictFail
			s.FailedChecks = []checks.Result{{Name: "product_fill", Value: 0.42, Op: ">=", Threshold: 0.99, Verdict: "fail"}}
			t.Failures["product_fill"]++
			t.Failing = append(t.Failing, s)
		}
		t.Samples = append(t.Samples, s)
	}
	if t.Progress.Done == 5 {
		t.Done, t.Judged, t.Accuracy = true, 4, f.accuracy
	}
	return t
}

func (f *fakeBatches) writeBatch(w http.ResponseWriter, status int) {
	f.mu.Lock()
	b := f.batchLocked()
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(b)
}

func (f *fakeBatches) create(w http.ResponseWriter, r *http.Request) {
	up := fakeUpload{fields: map[string]string{}, contentLength: r.ContentLength,
		chunked: len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"}
	if r.Header.Get("Content-Type") == "application/json" {
		// A batch of a selection or a manifest_url: each member kept as its JSON text.
		var in map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeFakeProblem(w, http.StatusBadRequest, "malformed-json", "Malformed JSON", err.Error())
			return
		}
		for k, v := range in {
			up.fields[k] = string(v)
		}
		f.mu.Lock()
		f.upload, f.state = up, jobs.BatchDraft
		f.mu.Unlock()
		f.writeBatch(w, http.StatusCreated)
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		writeFakeProblem(w, http.StatusBadRequest, "invalid-request", "Invalid request", err.Error())
		return
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			writeFakeProblem(w, http.StatusBadRequest, "invalid-request", "Invalid request", err.Error())
			return
		}
		up.order = append(up.order, p.FormName())
		switch p.FormName() {
		case "manifest":
			h := sha256.New()
			up.size, _ = io.Copy(h, p)
			copy(up.sum[:], h.Sum(nil))
			up.fileName = p.FileName()
		case "recipe", "name", "filter", "min_accuracy", "max_cost", "review", "from_scene", "prompt_template", "prompt_vars",
			"variants", "start_at", "start_force":
			v, _ := io.ReadAll(p)
			up.fields[p.FormName()] = string(v)
		default:
			writeFakeProblem(w, http.StatusBadRequest, "invalid-request", "Invalid request",
				fmt.Sprintf("unknown form field %q (want manifest, recipe, name, filter, min_accuracy, max_cost, review)", p.FormName()))
			return
		}
	}
	if up.fileName == "" {
		writeFakeProblem(w, http.StatusBadRequest, "invalid-request", "Invalid request", "the manifest file is required (form field manifest)")
		return
	}
	if up.fields["recipe"] == "missing" {
		writeFakeProblem(w, http.StatusNotFound, "not-found", "Not found", `recipe "missing": not found`)
		return
	}
	f.mu.Lock()
	f.upload, f.state = up, jobs.BatchDraft
	if v, ok := up.fields["min_accuracy"]; ok {
		fmt.Sscanf(v, "%g", &f.minAccuracy)
	}
	f.mu.Unlock()
	w.Header().Set("Location", "/v1/batches/bat_1")
	f.writeBatch(w, http.StatusCreated)
}

func (f *fakeBatches) found(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	ok := r.PathValue("id") == "bat_1" && f.state != ""
	f.mu.Unlock()
	if !ok {
		writeFakeProblem(w, http.StatusNotFound, "not-found", "Not found", "batch "+r.PathValue("id")+": not found")
	}
	return ok
}

func (f *fakeBatches) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	bs := []jobs.Batch{}
	if f.state != "" {
		bs = append(bs, f.batchLocked())
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"batches": bs})
}

func (f *fakeBatches) get(w http.ResponseWriter, r *http.Request) {
	if !f.found(w, r) {
		return
	}
	f.mu.Lock()
	n := 0
	if f.state == jobs.BatchRunning || f.state == jobs.BatchPaused {
		f.polls++
		n = f.polls
	}
	if f.state == jobs.BatchTrialling {
		if f.trialGet++; f.trialGet >= 5 {
			f.state = jobs.BatchReady
		}
	}
	f.mu.Unlock()
	if n > 0 && f.onPoll != nil {
		if status := f.onPoll(n); status != 0 {
			writeFakeProblem(w, status, "database-unavailable", "Database unavailable", "try again")
			return
		}
	}
	f.mu.Lock()
	if n > 0 && len(f.script) > 0 {
		f.step = f.script[min(n, len(f.script))-1]
		if f.step.state != "" {
			f.state = f.step.state
		}
	}
	f.mu.Unlock()
	f.writeBatch(w, http.StatusOK)
}

func (f *fakeBatches) action(w http.ResponseWriter, r *http.Request) {
	if !f.found(w, r) {
		return
	}
	action := r.PathValue("action")
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	from, to := f.state, ""
	status := http.StatusOK
	if action != "trial" {
		f.actionIn[action] = string(body)
	}
	switch {
	case action == "trial" && (from == jobs.BatchDraft || from == jobs.BatchReady):
		f.trialIn, f.trial, f.trialGet, to, status = string(body), true, 0, jobs.BatchTrialling, http.StatusAccepted
	case action == "start" && (from == jobs.BatchDraft || from == jobs.BatchReady) && f.trial && f.accuracy < f.minAccuracy &&
		!strings.Contains(string(body), `"force":true`):
		tr := f.trialLocked()
		f.mu.Unlock()
		w.Header().Set("Content-Type", api.ProblemContentType)
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(api.Problem{Type: api.ProblemTypePrefix + "batch-state", Title: "Not allowed in the batch's state", Status: 409,
			Detail:     "trial accuracy 50.0% is below the batch's min_accuracy 95.0% (look at the failing samples, or start with force)",
			Extensions: map[string]any{"trial": tr, "min_accuracy": f.minAccuracy}})
		return
	case action == "start" && (from == jobs.BatchDraft || from == jobs.BatchReady):
		to = jobs.BatchRunning
	case action == "pause" && from == jobs.BatchRunning:
		to = jobs.BatchPaused
	case action == "resume" && from == jobs.BatchPaused:
		to = jobs.BatchRunning
	case action == "cancel" && from != jobs.BatchDone && from != jobs.BatchCancelled:
		to = jobs.BatchCancelled
	case action == "retry" && from != jobs.BatchCancelled && from != jobs.BatchDraft && from != jobs.BatchReady:
		to = jobs.BatchRunning
	}
	if to != "" {
		f.state = to
	}
	f.mu.Unlock()
	if to == "" {
		writeFakeProblem(w, http.StatusConflict, "batch-state", "Not allowed in the batch's state",
			fmt.Sprintf("%s batch cannot %s: not allowed in the batch's state", from, action))
		return
	}
	f.writeBatch(w, status)
}

func (f *fakeBatches) resultsRoute(w http.ResponseWriter, r *http.Request) {
	if !f.found(w, r) {
		return
	}
	format := r.URL.Query().Get("format")
	body, ok := f.results[format]
	if !ok {
		writeFakeProblem(w, http.StatusBadRequest, "invalid-request", "Invalid request", "format must be csv or jsonl")
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	io.WriteString(w, body)
}

// called lists the requests the fake got, "METHOD /path".
func (f *fakeBatches) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeBatches) count(call string) int {
	n := 0
	for _, c := range f.called() {
		if c == call {
			n++
		}
	}
	return n
}

// testBatchDeps polls at once and prints a line per poll: no test waits on the clock.
func testBatchDeps() batchDeps {
	return batchDeps{client: &http.Client{Timeout: time.Minute}, poll: time.Millisecond, lineEvery: 1}
}

// runBatchTest runs "pictor batch ARGS" against f with PICTOR_SERVER pointing at it.
func runBatchTest(ctx context.Context, f *fakeBatches, deps batchDeps, env map[string]string, args ...string) (stdout, stderr string, err error) {
	e := map[string]string{"PICTOR_SERVER": f.url()}
	for k, v := range env {
		e[k] = v
	}
	var out, errOut bytes.Buffer
	err = runBatch(ctx, args, envOf(e), &out, &errOut, deps)
	return out.String(), errOut.String(), err
}

// writeManifest writes a CSV manifest of rows rows and returns its path and bytes.
func writeManifest(t *testing.T, rows int) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("url,sku\n")
	for i := range rows {
		fmt.Fprintf(&b, "https://images.example.com/catalog/%07d.jpg,SKU-%07d\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "manifest.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b.Bytes()
}

func TestBatchSubmitStreamsManifest(t *testing.T) {
	t.Parallel()
	manifest, data := writeManifest(t, 60_000) // about 3.5 MB
	recipeFile := filepath.Join(t.TempDir(), "fix.json")
	recipeJSON := `{"steps":[{"op":"auto_orient"}],"outputs":[{"name":"main","format":"webp"}]}`
	if err := os.WriteFile(recipeFile, []byte("\n"+recipeJSON+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantFields map[string]string
	}{
		{"recipe name, flags after the manifest", []string{"submit", manifest, "--recipe", "listing-fix", "--detach"},
			map[string]string{"recipe": "listing-fix"}},
		{"flags before the manifest, name and filter", []string{"submit", "--name", "spring fix", "--filter", `{"shorter_side_below":800}`,
			"--recipe", "listing-fix", "--detach", manifest},
			map[string]string{"recipe": "listing-fix", "name": "spring fix", "filter": `{"shorter_side_below":800}`}},
		{"inline recipe", []string{"submit", manifest, "--detach", "--recipe", recipeJSON},
			map[string]string{"recipe": recipeJSON}},
		{"recipe from a file", []string{"submit", manifest, "--detach", "--recipe", "@" + recipeFile},
			map[string]string{"recipe": recipeJSON}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeBatches(t, 60_000)
			stdout, stderr, err := runBatchTest(context.Background(), f, testBatchDeps(), nil, tt.args...)
			if err != nil {
				t.Fatalf("submit: got %v, want nil (stderr %s)", err, stderr)
			}
			if stdout != "bat_1\n" {
				t.Errorf("stdout: got %q, want the batch id alone", stdout)
			}
			up, _ := f.got()
			if len(up.fields) != len(tt.wantFields) {
				t.Errorf("fields: got %v, want %v", up.fields, tt.wantFields)
			}
			for k, want := range tt.wantFields {
				if got := up.fields[k]; got != want {
					t.Errorf("field %s: got %q, want %q", k, got, want)
				}
			}
			if up.size != int64(len(data)) || up.sum != sha256.Sum256(data) {
				t.Errorf("manifest part: got %d bytes (sha256 %x), want the whole file, %d bytes (sha256 %x)",
					up.size, up.sum[:4], len(data), sha256.Sum256(data))
			}
			if up.fileName != "manifest.csv" {
				t.Errorf("manifest file name: got %q, want manifest.csv", up.fileName)
			}
			if last := up.order[len(up.order)-1]; last != "manifest" {
				t.Errorf("part order: got %v, want the manifest last", up.order)
			}
			if up.contentLength != -1 || !up.chunked {
				t.Errorf("request length: got Content-Length %d, chunked %v; want a streamed body (-1, chunked)", up.contentLength, up.chunked)
			}
			for _, want := range []string{"created batch bat_1", "2 bad rows", "row 3: url is not http(s)", "row 7: no url?[31m or image_id",
				"started; follow it with: pictor batch wait bat_1"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr: got %q, want it to contain %q", stderr, want)
				}
			}
			if got, want := f.count("POST /v1/batches/bat_1/start"), 1; got != want {
				t.Errorf("start requests: got %d, want %d", got, want)
			}
			if got := f.count("GET /v1/batches/bat_1"); got != 0 {
				t.Errorf("polls with --detach: got %d, want 0", got)
			}
		})
	}
}

func TestBatchSubmitWaits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		script    []fakeStep
		terminal  bool
		wantErr   string // "" for success
		wantLines []string
	}{
		{"all succeed", []fakeStep{{running: 2}, {succeeded: 5, running: 2}, {succeeded: 9, skipped: 1, state: jobs.BatchDone}}, false, "", []string{
			"batch bat_1 running [....................] 0/10 0% 2.5/s ETA 4s\n",
			"batch bat_1 running [##########..........] 5/10 50% 2.5/s ETA 2s\n",
			"batch bat_1 done [####################] 10/10 100%\n",
			"batch bat_1 done: 9 succeeded, 0 failed, 1 skipped of 10\n",
			"results: pictor batch results bat_1",
		}},
		{"some fail", []fakeStep{{succeeded: 4, failed: 1}, {succeeded: 7, failed: 3, state: jobs.BatchDone}}, false,
			"batch bat_1: 3 of 10 items failed; see why with: pictor batch results bat_1, run them again with: pictor batch retry bat_1", []string{
				"batch bat_1 running [##########..........] 5/10 50% 2.5/s ETA 2s failed 1\n",
				"batch bat_1 done [####################] 10/10 100% failed 3\n",
			}},
		{"cancelled elsewhere", []fakeStep{{succeeded: 2}, {succeeded: 3, skipped: 7, state: jobs.BatchCancelled}}, false,
			"batch bat_1 was cancelled", []string{"batch bat_1 cancelled [####################] 10/10 100%\n"}},
		{"paused and resumed elsewhere", []fakeStep{{succeeded: 2}, {succeeded: 2, state: jobs.BatchPaused}, {succeeded: 3, state: jobs.BatchRunning},
			{succeeded: 10, state: jobs.BatchDone}}, false, "", []string{
			"batch bat_1 paused [####................] 2/10 20%\n",
			"batch bat_1 running [######..............] 3/10 30% 2.5/s ETA 3s\n",
		}},
		{"terminal bar", []fakeStep{{succeeded: 5, failed: 1}, {succeeded: 9, failed: 1, state: jobs.BatchDone}}, true,
			"1 of 10 items failed", []string{
				"\r[############........] 6/10 60% 2.5/s ETA 2s failed 1 running\x1b[K",
				"\r[####################] 10/10 100% failed 1 done\x1b[K\nbatch bat_1 done",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			manifest, _ := writeManifest(t, 10)
			f := newFakeBatches(t, 10, tt.script...)
			deps := testBatchDeps()
			deps.terminal = tt.terminal
			_, stderr, err := runBatchTest(context.Background(), f, deps, nil, "submit", manifest, "--recipe", "listing-fix")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("submit: got %v, want nil (stderr %s)", err, stderr)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("submit: got %v, want an error containing %q (stderr %s)", err, tt.wantErr, stderr)
			case errors.Is(err, errUsage):
				t.Fatalf("submit: got a usage error %v, want exit 1", err)
			}
			for _, want := range tt.wantLines {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr: got %q, want it to contain %q", stderr, want)
				}
			}
			if !tt.terminal && strings.Contains(stderr, "\r") {
				t.Errorf("stderr: got %q, want no carriage returns when not a terminal", stderr)
			}
			if got := f.count("POST /v1/batches/bat_1/cancel"); got != 0 {
				t.Errorf("cancel requests: got %d, want 0", got)
			}
		})
	}
}

func TestBatchNonTerminalLinesEveryFewPolls(t *testing.T) {
	t.Parallel()
	script := make([]fakeStep, 0, 9)
	for i := range 8 {
		script = append(script, fakeStep{succeeded: i})
	}
	script = append(script, fakeStep{succeeded: 10, state: jobs.BatchDone})
	manifest, _ := writeManifest(t, 10)
	f := newFakeBatches(t, 10, script...)
	deps := testBatchDeps()
	deps.lineEvery = 3
	_, stderr, err := runBatchTest(context.Background(), f, deps, nil, "submit", manifest, "--recipe", "r")
	if err != nil {
		t.Fatalf("submit: got %v, want nil (stderr %s)", err, stderr)
	}
	// The start answer (0 done), then polls showing 0..7, then done: a line at the start,
	// then every third look, then the end.
	var got []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "batch bat_1 running") || strings.HasPrefix(l, "batch bat_1 done [") {
			got = append(got, strings.Fields(l)[4])
		}
	}
	want := []string{"0/10", "2/10", "5/10", "10/10"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("progress lines: got %v, want %v (stderr %s)", got, want, stderr)
	}
}

func TestBatchSubmitTrial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		accuracy  float64
		unpriced  bool
		extra     []string
		wantErr   string // "" for success
		wantStart int
		wantForce bool
		want      []string // in stderr
	}{
		{name: "trial then start", accuracy: 1, extra: []string{"--detach"}, wantStart: 1,
			want: []string{"accuracy: 100.0% (4 of 4 judged samples passed every check; min_accuracy 95.0%)",
				"cost 1.25 EUR (0.1250 EUR an item)", "started"}},
		{name: "trial without starting", accuracy: 1, extra: []string{"--no-start"},
			want: []string{"not started; start it with: pictor batch start bat_1"}},
		{name: "below the threshold does not start", accuracy: 0.5, wantErr: "batch bat_1 not started: trial accuracy 50.0% is below min_accuracy 95.0%",
			want: []string{"accuracy: 50.0% (2 of 4 judged samples passed every check; min_accuracy 95.0%)",
				"failures per check: product_fill 2",
				"row 1 https://example.com/1.jpg: fail: product_fill=0.42 (>= 0.99)",
				"/v1/images/img_1/content", "/v1/renditions/r1/content"}},
		{name: "a lower min-accuracy lets it start", accuracy: 0.5, extra: []string{"--min-accuracy", "0.5", "--detach"}, wantStart: 1,
			want: []string{"min_accuracy 50.0%", "started"}},
		{name: "force starts below the threshold", accuracy: 0.25, extra: []string{"--force", "--detach"}, wantStart: 1, wantForce: true,
			want: []string{"accuracy: 25.0%", "started"}},
		{name: "unpriced says so", accuracy: 1, unpriced: true, extra: []string{"--detach"}, wantStart: 1,
			want: []string{"cost unknown: no prices configured: set PICTOR_COST_GPU_SECOND"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			manifest, _ := writeManifest(t, 10)
			f := newFakeBatches(t, 10)
			f.accuracy, f.unpriced = tt.accuracy, tt.unpriced
			_, stderr, err := runBatchTest(context.Background(), f, testBatchDeps(), nil,
				append([]string{"submit", manifest, "--recipe", "r", "--trial", "5"}, tt.extra...)...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("submit: got %v, want nil (stderr %s)", err, stderr)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("submit: got %v, want an error containing %q (stderr %s)", err, tt.wantErr, stderr)
			}
			if _, trialIn := f.got(); trialIn != `{"sample":5}` {
				t.Errorf("trial body: got %q, want %q", trialIn, `{"sample":5}`)
			}
			for _, want := range append([]string{"trial 0/5", "trial: 5 rows sampled, 4 judged, 1 did not pass the filter, 0 failed to process"}, tt.want...) {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr: got %q, want it to contain %q", stderr, want)
				}
			}
			if got := f.count("POST /v1/batches/bat_1/start"); got != tt.wantStart {
				t.Errorf("start requests: got %d, want %d", got, tt.wantStart)
			}
			f.mu.Lock()
			startIn := f.actionIn["start"]
			f.mu.Unlock()
			if gotForce := strings.Contains(startIn, `"force":true`); gotForce != tt.wantForce {
				t.Errorf("start body: got %q, want force %v", startIn, tt.wantForce)
			}
		})
	}
}

// The server has the last word: a start it refuses (409 with the report) prints the
// report and exits non-zero; start --force goes through.
func TestBatchStartRefusedPrintsReport(t *testing.T) {
	t.Parallel()
	manifest, _ := writeManifest(t, 10)
	f := newFakeBatches(t, 10)
	f.accuracy = 0.5
	ctx := context.Background()
	if _, stderr, err := runBatchTest(ctx, f, testBatchDeps(), nil, "submit", manifest, "--recipe", "r", "--trial", "5", "--no-start"); err != nil {
		t.Fatalf("submit: %v (stderr %s)", err, stderr)
	}
	_, stderr, err := runBatchTest(ctx, f, testBatchDeps(), nil, "start", "bat_1")
	if err == nil || !strings.Contains(err.Error(), "batch bat_1 not started: trial accuracy 50.0% is below") ||
		!strings.Contains(err.Error(), "pictor batch start bat_1 --force") {
		t.Fatalf("start below the threshold: got %v, want a refusal naming --force", err)
	}
	if !strings.Contains(stderr, "failures per check: product_fill 2") || !strings.Contains(stderr, f.url()+"/v1/renditions/r1/content") {
		t.Errorf("stderr: got %q, want the report with absolute after URLs", stderr)
	}
	out, stderr, err := runBatchTest(ctx, f, testBatchDeps(), nil, "start", "bat_1", "--force")
	if err != nil || !strings.Contains(out, "batch bat_1 running") {
		t.Fatalf("start --force: got %v %q (stderr %s), want it running", err, out, stderr)
	}
}

// The create flags travel as form fields; bad values are usage errors before any upload.
func TestBatchSubmitQualityFlags(t *testing.T) {
	t.Parallel()
	manifest, _ := writeManifest(t, 3)
	f := newFakeBatches(t, 3)
	if _, stderr, err := runBatchTest(context.Background(), f, testBatchDeps(), nil, "submit", manifest, "--recipe", "r",
		"--min-accuracy", "0.8", "--max-cost", "12.5", "--review", "all", "--no-start"); err != nil {
		t.Fatalf("submit: %v (stderr %s)", err, stderr)
	}
	up, _ := f.got()
	for k, want := range map[string]string{"min_accuracy": "0.8", "max_cost": "12.5", "review": "all"} {
		if up.fields[k] != want {
			t.Errorf("field %s: got %q, want %q", k, up.fields[k], want)
		}
	}
	for _, bad := range [][]string{{"--min-accuracy", "1.5"}, {"--min-accuracy", "most"}, {"--max-cost", "-1"}, {"--review", "some"}} {
		g := newFakeBatches(t, 3)
		_, stderr, err := runBatchTest(context.Background(), g, testBatchDeps(), nil, append([]string{"submit", manifest, "--recipe", "r"}, bad...)...)
		if !errors.Is(err, errUsage) || !strings.Contains(stderr, bad[0]) {
			t.Errorf("%v: got %v (stderr %q), want a usage error naming the flag", bad, err, stderr)
		}
		if n := g.count("POST /v1/batches"); n != 0 {
			t.Errorf("%v: %d uploads, want none", bad, n)
		}
	}
}

func TestBatchInterruptKeepsBatchRunning(t *testing.T) {
	t.Parallel()
	manifest, _ := writeManifest(t, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFakeBatches(t, 10, fakeStep{succeeded: 1}, fakeStep{succeeded: 2})
	f.onPoll = func(n int) int {
		if n == 3 {
			cancel() // Ctrl-C while the third poll is in flight
		}
		return 0
	}
	_, stderr, err := runBatchTest(ctx, f, testBatchDeps(), nil, "submit", manifest, "--recipe", "r")
	if err == nil || !strings.Contains(err.Error(), "stopped waiting; batch bat_1 keeps running on the server (follow it with: pictor batch wait bat_1") {
		t.Fatalf("submit: got %v, want the stopped-waiting error (stderr %s)", err, stderr)
	}
	if errors.Is(err, errUsage) {
		t.Errorf("submit: got a usage error, want exit 1")
	}
	for _, c := range f.called() {
		if strings.HasPrefix(c, "POST") && c != "POST /v1/batches" && c != "POST /v1/batches/bat_1/start" {
			t.Errorf("requests: got %s, want none that changes the batch after Ctrl-C", c)
		}
	}
}

func TestBatchWaitSurvivesTransientErrors(t *testing.T) {
	t.Parallel()
	manifest, _ := writeManifest(t, 10)
	f := newFakeBatches(t, 10, fakeStep{succeeded: 1}, fakeStep{succeeded: 2}, fakeStep{succeeded: 3}, fakeStep{succeeded: 10, state: jobs.BatchDone})
	f.onPoll = func(n int) int {
		if n == 2 || n == 3 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	_, stderr, err := runBatchTest(context.Background(), f, testBatchDeps(), nil, "submit", manifest, "--recipe", "r")
	if err != nil {
		t.Fatalf("submit: got %v, want nil (stderr %s)", err, stderr)
	}
	for _, want := range []string{"cannot poll the service, trying again: Database unavailable: try again", "reached the service again after 2 failed polls"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr: got %q, want it to contain %q", stderr, want)
		}
	}
	if got := strings.Count(stderr, "trying again"); got != 1 {
		t.Errorf("retry warnings: got %d, want 1", got)
	}
}

func TestBatchResults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		toFile   bool
		wantBody string
	}{
		{"csv to stdout", []string{"results", "bat_1"}, false, "csv"},
		{"jsonl to stdout", []string{"results", "bat_1", "--format", "jsonl"}, false, "jsonl"},
		{"csv to a file", []string{"results", "-o", "OUT", "bat_1"}, true, "csv"},
		{"jsonl to a file", []string{"results", "bat_1", "--format=jsonl", "-o", "OUT"}, true, "jsonl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeBatches(t, 10)
			f.state = jobs.BatchDone
			out := filepath.Join(t.TempDir(), "results.out")
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "OUT", out)
			}
			stdout, stderr, err := runBatchTest(context.Background(), f, testBatchDeps(), nil, args...)
			if err != nil {
				t.Fatalf("results: got %v, want nil (stderr %s)", err, stderr)
			}
			want := f.results[tt.wantBody]
			got := stdout
			if tt.toFile {
				data, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				got = string(data)
				if stdout != "" {
					t.Errorf("stdout: got %q, want nothing when writing a file", stdout)
				}
				entries, _ := os.ReadDir(filepath.Dir(out))
				if len(entries) != 1 {
					t.Errorf("directory: got %d entries, want only the results file", len(entries))
				}
			}
			if got != want {
				t.Errorf("results: got %q, want %q", got, want)
			}
		})
	}

	t.Run("an error leaves the file alone", func(t *testing.T) {
		t.Parallel()
		f := newFakeBatches(t, 10)
		out := filepath.Join(t.TempDir(), "results.csv")
		if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := runBatchTest(context.Background(), f, testBatchDeps(), nil, "results", "bat_404", "-o", out)
		if err == nil || err.Error() != "Not found: batch bat_404: not found" {
			t.Fatalf("results: got %v, want the not-found problem", err)
		}
		if data, _ := os.ReadFile(out); string(data) != "old" {
			t.Errorf("file: got %q, want it untouched", data)
		}
	})
}

func TestBatchProblemErrors(t *testing.T) {
	t.Parallel()
	manifest, _ := writeManifest(t, 10)
	tests := []struct {
		name    string
		key     string // the fake's required key
		state   string
		args    []string
		wantErr string
	}{
		{"unknown batch", "", jobs.BatchRunning, []string{"status", "bat_nope"}, "Not found: batch bat_nope: not found"},
		{"wrong state", "", jobs.BatchDone, []string{"pause", "bat_1"},
			"Not allowed in the batch's state: done batch cannot pause: not allowed in the batch's state"},
		{"unknown recipe on submit", "", "", []string{"submit", manifest, "--recipe", "missing"}, `Not found: recipe "missing": not found`},
		{"no key", "s3cret", jobs.BatchRunning, []string{"status", "bat_1"},
			"Unauthorized: send an API key as Authorization: Bearer KEY (no API key given: set PICTOR_API_KEY or --key)"},
		{"wrong key", "s3cret", jobs.BatchRunning, []string{"status", "--key", "wrong", "bat_1"},
			"Unauthorized: send an API key as Authorization: Bearer KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeBatches(t, 10)
			f.key, f.state = tt.key, tt.state
			var stdout, stderr bytes.Buffer
			// Through run, as main calls it: main prints "pictor: " and the error, exit 1.
			err := run(context.Background(), append([]string{"batch"}, tt.args...), envOf(map[string]string{"PICTOR_SERVER": f.url()}), &stdout, &stderr)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error: got %v, want %q", err, tt.wantErr)
			}
			if errors.Is(err, errUsage) {
				t.Errorf("error: got a usage error, want exit 1")
			}
		})
	}

	t.Run("field errors and non-problem answers", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/batches/bat_1" {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				io.WriteString(w, "<html>\n<body>bad   gateway</body></html>")
				return
			}
			w.Header().Set("Content-Type", api.ProblemContentType)
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(api.Problem{Title: "Invalid recipe", Status: 400, Detail: "the recipe has 1 invalid field",
				Errors: []api.FieldError{{Field: "steps[0].op", Message: "unknown operation"}}})
		}))
		defer srv.Close()
		env := envOf(map[string]string{"PICTOR_SERVER": srv.URL})
		var out, errOut bytes.Buffer
		err := runBatch(context.Background(), []string{"submit", manifest, "--recipe", `{"steps":[{"op":"nope"}]}`}, env, &out, &errOut, testBatchDeps())
		if want := "Invalid recipe: the recipe has 1 invalid field\n  steps[0].op: unknown operation"; err == nil || err.Error() != want {
			t.Errorf("submit: got %v, want %q", err, want)
		}
		err = runBatch(context.Background(), []string{"status", "bat_1"}, env, &out, &errOut, testBatchDeps())
		if want := "GET /v1/batches/bat_1 answered 502 Bad Gateway: <html> <body>bad gateway</body></html>"; err == nil || err.Error() != want {
			t.Errorf("status: got %v, want %q", err, want)
		}
	})
}

// recordingTransport answers every request with an empty batch list and records it.
type recordingTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.reqs = append(rt.reqs, r)
	rt.mu.Unlock()
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"batches":[]}`)), Request: r}, nil
}

func TestBatchServerAndKeyPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantURL  string
		wantAuth string
	}{
		{"defaults", nil, []string{"list"}, "http://localhost:8080/v1/batches", ""},
		{"environment", map[string]string{"PICTOR_SERVER": "https://pictor.example.com/api/", "PICTOR_API_KEY": "envkey"},
			[]string{"list"}, "https://pictor.example.com/api/v1/batches", "Bearer envkey"},
		{"command flags win over the environment", map[string]string{"PICTOR_SERVER": "http://env:1", "PICTOR_API_KEY": "envkey"},
			[]string{"list", "--server", "http://flag:2", "--key", "flagkey"}, "http://flag:2/v1/batches", "Bearer flagkey"},
		{"flags before the command win over the environment", map[string]string{"PICTOR_SERVER": "http://env:1", "PICTOR_API_KEY": "envkey"},
			[]string{"--server", "http://top:3", "--key", "topkey", "list"}, "http://top:3/v1/batches", "Bearer topkey"},
		{"command flags win over flags before it", nil,
			[]string{"--server", "http://top:3", "--key", "topkey", "list", "-server=http://flag:2", "-key=flagkey"}, "http://flag:2/v1/batches", "Bearer flagkey"},
		{"a flag and the other from the environment", map[string]string{"PICTOR_API_KEY": "envkey"},
			[]string{"list", "--server", "http://flag:2"}, "http://flag:2/v1/batches", "Bearer envkey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := &recordingTransport{}
			deps := testBatchDeps()
			deps.client = &http.Client{Transport: rt}
			var stdout, stderr bytes.Buffer
			if err := runBatch(context.Background(), tt.args, envOf(tt.env), &stdout, &stderr, deps); err != nil {
				t.Fatalf("list: got %v, want nil (stderr %s)", err, stderr.String())
			}
			if len(rt.reqs) != 1 {
				t.Fatalf("requests: got %d, want 1", len(rt.reqs))
			}
			r := rt.reqs[0]
			if got := r.URL.String(); got != tt.wantURL {
				t.Errorf("url: got %s, want %s", got, tt.wantURL)
			}
			if got := r.Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("authorization: got %q, want %q", got, tt.wantAuth)
			}
		})
	}
}

func TestBatchUsageErrors(t *testing.T) {
	t.Parallel()
	manifest, _ := writeManifest(t, 3)
	tests := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"frobnicate"}},
		{"submit without recipe", []string{"submit", manifest}},
		{"submit without manifest", []string{"submit", "--recipe", "r"}},
		{"submit with two manifests", []string{"submit", manifest, manifest, "--recipe", "r"}},
		{"malformed inline recipe", []string{"submit", manifest, "--recipe", "{not json"}},
		{"filter not an object", []string{"submit", manifest, "--recipe", "r", "--filter", "shorter_side_below"}},
		{"trial too large", []string{"submit", manifest, "--recipe", "r", "--trial", "500"}},
		{"unknown flag", []string{"status", "--verbose", "bat_1"}},
		{"status without id", []string{"status"}},
		{"bad results format", []string{"results", "bat_1", "--format", "xml"}},
		{"bad server", []string{"status", "--server", "localhost:8080", "bat_1"}},
		{"wait on pause", []string{"pause", "--wait", "bat_1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := &recordingTransport{}
			deps := testBatchDeps()
			deps.client = &http.Client{Transport: rt}
			var stdout, stderr bytes.Buffer
			err := runBatch(context.Background(), tt.args, envOf(nil), &stdout, &stderr, deps)
			if !errors.Is(err, errUsage) {
				t.Errorf("error: got %v, want errUsage (exit 2)", err)
			}
			if stderr.Len() == 0 {
				t.Errorf("stderr: got nothing, want the reason or the usage")
			}
			if len(rt.reqs) != 0 {
				t.Errorf("requests: got %d, want none", len(rt.reqs))
			}
		})
	}
	t.Run("through run", func(t *testing.T) {
		t.Parallel()
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{"batch"}, envOf(nil), &stdout, &stderr); !errors.Is(err, errUsage) {
			t.Errorf("pictor batch: got %v, want errUsage", err)
		}
		if !strings.Contains(stderr.String(), "pictor batch [--server URL]") {
			t.Errorf("stderr: got %q, want the batch usage", stderr.String())
		}
	})
}

func TestBatchStatusListAndActions(t *testing.T) {
	t.Parallel()
	f := newFakeBatches(t, 10, fakeStep{succeeded: 4, failed: 1, running: 2})
	f.state = jobs.BatchRunning
	f.upload.fields = map[string]string{"name": "spring fix"}
	ctx := context.Background()

	stdout, stderr, err := runBatchTest(ctx, f, testBatchDeps(), nil, "status", "bat_1")
	if err != nil {
		t.Fatalf("status: got %v, want nil (stderr %s)", err, stderr)
	}
	for _, want := range []string{"state      running", "succeeded  4", "failed     1", "running    2", "queued     3",
		"rate       2.5 items/s", "eta        2s", "bad rows   2", "name       spring fix", "row 3: url is not http(s)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status: got %q, want it to contain %q", stdout, want)
		}
	}

	stdout, _, err = runBatchTest(ctx, f, testBatchDeps(), nil, "status", "--json", "bat_1")
	if err != nil {
		t.Fatalf("status --json: got %v, want nil", err)
	}
	var b jobs.Batch
	if err := json.Unmarshal([]byte(stdout), &b); err != nil || b.ID != "bat_1" || b.Counts[jobs.ItemSucceeded] != 4 {
		t.Errorf("status --json: got %q (%v), want the batch's JSON", stdout, err)
	}

	stdout, _, err = runBatchTest(ctx, f, testBatchDeps(), nil, "list")
	if err != nil {
		t.Fatalf("list: got %v, want nil", err)
	}
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") ||
		!strings.HasPrefix(lines[1], "bat_1") || !strings.Contains(lines[1], "spring fix") {
		t.Errorf("list: got %q, want a header and bat_1", stdout)
	}

	for _, step := range []struct{ action, want string }{
		{"pause", "batch bat_1 paused"}, {"resume", "batch bat_1 running"}, {"cancel", "batch bat_1 cancelled"},
	} {
		stdout, stderr, err := runBatchTest(ctx, f, testBatchDeps(), nil, step.action, "bat_1")
		if err != nil {
			t.Fatalf("%s: got %v, want nil (stderr %s)", step.action, err, stderr)
		}
		if !strings.HasPrefix(stdout, step.want) {
			t.Errorf("%s: got %q, want it to start with %q", step.action, stdout, step.want)
		}
	}
	if _, _, err := runBatchTest(ctx, f, testBatchDeps(), nil, "retry", "bat_1"); err == nil || !strings.Contains(err.Error(), "cancelled batch cannot retry") {
		t.Errorf("retry of a cancelled batch: got %v, want the batch-state problem", err)
	}
}

func TestBatchWaitCommand(t *testing.T) {
	t.Parallel()
	f := newFakeBatches(t, 10, fakeStep{succeeded: 10, state: jobs.BatchDone})
	f.state = jobs.BatchDraft
	_, _, err := runBatchTest(context.Background(), f, testBatchDeps(), nil, "wait", "bat_1")
	if err == nil || !strings.Contains(err.Error(), "is a draft, not started (start it with: pictor batch start bat_1)") {
		t.Errorf("wait on a draft: got %v, want the not-started error", err)
	}
	stdout, stderr, err := runBatchTest(context.Background(), f, testBatchDeps(), nil, "start", "--wait", "bat_1")
	if err != nil {
		t.Fatalf("start --wait: got %v, want nil (stderr %s)", err, stderr)
	}
	if !strings.HasPrefix(stdout, "batch bat_1 running") || !strings.Contains(stderr, "batch bat_1 done: 10 succeeded") {
		t.Errorf("start --wait: got stdout %q, stderr %q; want the start line, then the end", stdout, stderr)
	}
}

func TestBatchSubmitMissingManifest(t *testing.T) {
	t.Parallel()
	f := newFakeBatches(t, 10)
	_, _, err := runBatchTest(context.Background(), f, testBatchDeps(), nil, "submit", filepath.Join(t.TempDir(), "nope.csv"), "--recipe", "r")
	if err == nil || !strings.Contains(err.Error(), "manifest: open") || errors.Is(err, errUsage) {
		t.Errorf("submit: got %v, want the open error", err)
	}
	if got := f.called(); len(got) != 0 {
		t.Errorf("requests: got %v, want none", got)
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	counts := func(s, f, k int) map[string]int {
		return map[string]int{api.ItemSucceeded: s, api.ItemFailed: f, api.ItemSkipped: k}
	}
	tests := []struct {
		name string
		b    api.BatchView
		want string
	}{
		{"brief's example", api.BatchView{Total: 1000, Counts: counts(500, 3, 9), Rate: 12.3, ETASeconds: 40}, "[#####.....] 512/1000 51% 12.3/s ETA 40s failed 3"},
		{"nothing done", api.BatchView{Total: 7, Counts: counts(0, 0, 0)}, "[..........] 0/7 0%"},
		{"all done", api.BatchView{Total: 7, Counts: counts(7, 0, 0)}, "[##########] 7/7 100%"},
		{"empty batch", api.BatchView{Total: 0, Counts: counts(0, 0, 0)}, "[##########] 0/0 100%"},
		{"long eta", api.BatchView{Total: 10, Counts: counts(1, 0, 0), Rate: 0.5, ETASeconds: 7500}, "[#.........] 1/10 10% 0.5/s ETA 2h05m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := progressLine(tt.b, 10); got != tt.want {
				t.Errorf("progressLine: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormatSecondsAndBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"seconds", formatSeconds(40.4), "40s"},
		{"minutes", formatSeconds(750), "12m30s"},
		{"hours", formatSeconds(3*3600 + 5*60 + 20), "3h05m"},
		{"bytes", formatBytes(512), "512 B"},
		{"kilobytes", formatBytes(1500), "1.5 kB"},
		{"gigabytes", formatBytes(4_200_000_000), "4.2 GB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// The campaign flags: per-row prompts, variants and a delayed start go with the upload (and
// nothing is started); a selection, a scene and a scheduled manifest_url go as JSON; start
// --at sends the time.
func TestBatchSubmitCampaignFlags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	manifest, _ := writeManifest(t, 3)
	f := newFakeBatches(t, 3)
	before := time.Now()
	if _, stderr, err := runBatchTest(ctx, f, testBatchDeps(), nil, "submit", manifest, "--recipe", "r", "--prompt", "a {product} on oak",
		"--prompt-var", "product=title", "--variants", "2", "--start-at", "+2h"); err != nil {
		t.Fatalf("submit: %v (stderr %s)", err, stderr)
	}
	up, _ := f.got()
	at, err := time.Parse(time.RFC3339, up.fields["start_at"])
	if err != nil || at.Before(before.Add(2*time.Hour-time.Second)) || at.After(time.Now().Add(2*time.Hour+time.Second)) {
		t.Errorf("start_at %q (%v): want two hours from now", up.fields["start_at"], err)
	}
	for k, want := range map[string]string{"prompt_template": "a {product} on oak", "prompt_vars": `{"product":"title"}`, "variants": "2"} {
		if up.fields[k] != want {
			t.Errorf("field %s: got %q, want %q", k, up.fields[k], want)
		}
	}
	if n := f.count("POST /v1/batches/bat_1/start"); n != 0 {
		t.Errorf("a delayed start was started now (%d calls)", n)
	}

	g := newFakeBatches(t, 3)
	if _, stderr, err := runBatchTest(ctx, g, testBatchDeps(), nil, "submit", "--select", `{"meta":{"category":"shoes"}}`,
		"--from-scene", "scn_1", "--no-start"); err != nil {
		t.Fatalf("submit --select: %v (stderr %s)", err, stderr)
	}
	up, _ = g.got()
	if up.fields["selection"] != `{"meta":{"category":"shoes"}}` || up.fields["from_scene"] != `"scn_1"` || up.fields["recipe"] != "" {
		t.Errorf("selection batch sent %v", up.fields)
	}

	h := newFakeBatches(t, 3)
	if _, stderr, err := runBatchTest(ctx, h, testBatchDeps(), nil, "submit", "--manifest-url", "https://feeds.example/m.csv",
		"--schedule", "0 * * * *", "--recipe", "r", "--no-start"); err != nil {
		t.Fatalf("submit --manifest-url: %v (stderr %s)", err, stderr)
	}
	up, _ = h.got()
	if up.fields["manifest_url"] != `"https://feeds.example/m.csv"` || up.fields["schedule"] != `"0 * * * *"` || up.fields["recipe"] != `"r"` {
		t.Errorf("scheduled batch sent %v", up.fields)
	}

	for _, bad := range [][]string{
		{"submit", manifest, "--select", `{}`, "--recipe", "r"},
		{"submit", manifest, "--schedule", "0 * * * *", "--recipe", "r"},
		{"submit", manifest},
		{"submit", manifest, "--recipe", "r", "--from-scene", "scn_1"},
		{"submit", manifest, "--recipe", "r", "--variants", "9"},
		{"submit", manifest, "--recipe", "r", "--start-at", "tomorrow"},
		{"submit", manifest, "--recipe", "r", "--prompt-var", "product"},
		{"start", "bat_1", "--at", "soon"},
	} {
		k := newFakeBatches(t, 3)
		if _, stderr, err := runBatchTest(ctx, k, testBatchDeps(), nil, bad...); !errors.Is(err, errUsage) {
			t.Errorf("%q: got %v (stderr %q), want a usage error", bad, err, stderr)
		}
		if n := k.count("POST /v1/batches"); n != 0 {
			t.Errorf("%q: %d creations, want none", bad, n)
		}
	}

	s := newFakeBatches(t, 3)
	if _, stderr, err := runBatchTest(ctx, s, testBatchDeps(), nil, "submit", manifest, "--recipe", "r", "--no-start"); err != nil {
		t.Fatalf("submit: %v (stderr %s)", err, stderr)
	}
	if _, stderr, err := runBatchTest(ctx, s, testBatchDeps(), nil, "start", "bat_1", "--at", "2030-01-02T03:04:05Z"); err != nil {
		t.Fatalf("start --at: %v (stderr %s)", err, stderr)
	}
	s.mu.Lock()
	body := s.actionIn["start"]
	s.mu.Unlock()
	if body != `{"at":"2030-01-02T03:04:05Z"}` {
		t.Errorf("start --at sent %q", body)
	}
}
