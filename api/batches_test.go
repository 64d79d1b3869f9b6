package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
)

// fakeBatchService is a Batches whose batch bat_1 has a trial of accuracy 0.5 against a
// min_accuracy of 0.95: start and retry refuse it unless forced. It records the options.
type fakeBatchService struct {
	mu      sync.Mutex
	created jobs.BatchRequest
	sample  int
	opts    map[string]jobs.ActionOptions
}

var lowTrial = &jobs.Trial{Progress: jobs.TrialProgress{Done: 4, Total: 4}, Accuracy: 0.5, Judged: 4, Done: true,
	Failures: map[string]int{"product_fill": 2},
	Failing: []jobs.TrialSample{{Row: 3, BeforeURL: "/v1/images/img_1/content", AfterURL: "/v1/renditions/r1/content", Verdict: jobs.VerdictFail},
		{Row: 5, BeforeURL: "/v1/images/img_2/content", AfterURL: "/v1/renditions/r2/content", Verdict: jobs.VerdictFail}}}

func (f *fakeBatchService) record(action string, o jobs.ActionOptions) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opts == nil {
		f.opts = map[string]jobs.ActionOptions{}
	}
	f.opts[action] = o
}

func (f *fakeBatchService) CreateBatch(_ context.Context, req jobs.BatchRequest) (jobs.Batch, error) {
	io.Copy(io.Discard, req.Manifest)
	f.mu.Lock()
	f.created = req
	f.mu.Unlock()
	return jobs.Batch{ID: "bat_1", State: jobs.BatchDraft}, nil
}
func (f *fakeBatchService) GetBatch(context.Context, string) (jobs.Batch, error) {
	return jobs.Batch{ID: "bat_1", State: jobs.BatchReady, Trial: lowTrial}, nil
}
func (f *fakeBatchService) ListBatches(context.Context) ([]jobs.Batch, error) { return nil, nil }
func (f *fakeBatchService) TrialBatch(_ context.Context, id string, sample int) (jobs.Batch, error) {
	f.mu.Lock()
	f.sample = sample
	f.mu.Unlock()
	return jobs.Batch{ID: id, State: jobs.BatchTrialling, Trial: &jobs.Trial{Progress: jobs.TrialProgress{Total: sample}}}, nil
}
func (f *fakeBatchService) gated(action, id string, o jobs.ActionOptions) (jobs.Batch, error) {
	f.record(action, o)
	if !o.Force {
		return jobs.Batch{}, &jobs.TrialGateError{MinAccuracy: 0.95, Trial: lowTrial}
	}
	return jobs.Batch{ID: id, State: jobs.BatchRunning}, nil
}
func (f *fakeBatchService) StartBatch(_ context.Context, id string, o jobs.ActionOptions) (jobs.Batch, error) {
	return f.gated("start", id, o)
}
func (f *fakeBatchService) ScheduleStart(_ context.Context, id string, _ time.Time, force bool) (jobs.Batch, error) {
	return f.gated("start", id, jobs.ActionOptions{Force: force})
}
func (f *fakeBatchService) RetryBatch(_ context.Context, id string, o jobs.ActionOptions) (jobs.Batch, error) {
	return f.gated("retry", id, o)
}
func (f *fakeBatchService) ResumeBatch(_ context.Context, id string, o jobs.ActionOptions) (jobs.Batch, error) {
	f.record("resume", o)
	return jobs.Batch{ID: id, State: jobs.BatchRunning}, nil
}
func (f *fakeBatchService) PauseBatch(_ context.Context, id string) (jobs.Batch, error) {
	return jobs.Batch{ID: id, State: jobs.BatchPaused}, nil
}
func (f *fakeBatchService) CancelBatch(_ context.Context, id string) (jobs.Batch, error) {
	return jobs.Batch{ID: id, State: jobs.BatchCancelled}, nil
}
func (f *fakeBatchService) WriteResults(context.Context, string, io.Writer, manifest.Format) error {
	return nil
}

func setupBatches(t *testing.T) (http.Handler, *fakeBatchService) {
	t.Helper()
	return setupBatchesWith(t, DefaultConfig())
}

func setupBatchesWith(t *testing.T, cfg Config) (http.Handler, *fakeBatchService) {
	t.Helper()
	h, fb, _ := setupBatchesMetrics(t, cfg)
	return h, fb
}

// setupBatchesMetrics is setupBatchesWith that also gives the registry the handler's
// metrics are on.
func setupBatchesMetrics(t *testing.T, cfg Config) (http.Handler, *fakeBatchService, *prometheus.Registry) {
	t.Helper()
	fb := &fakeBatchService{}
	reg := prometheus.NewRegistry()
	h, err := New(cfg, Deps{Catalog: &fakeCatalog{}, Batches: fb, Logger: slog.New(slog.DiscardHandler), Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return h, fb, reg
}

// keyedCaller serves requests on h, with a bearer key and a content type when given.
func keyedCaller(t *testing.T, h http.Handler) func(method, target, key string, body []byte, ct string) *httptest.ResponseRecorder {
	return func(method, target, key string, body []byte, ct string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, target, bytes.NewReader(body))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
}

func serve(h http.Handler, method, target, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// POST trial answers 202 at once with the batch trialling and its progress.
func TestBatchTrialAnswers202(t *testing.T) {
	t.Parallel()
	h, fb := setupBatches(t)
	rec := serve(h, "POST", "/v1/batches/bat_1/trial", "application/json", `{"sample": 4}`)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status: got %d, want 202 (body %s)", rec.Code, rec.Body)
	}
	var got struct {
		State string `json:"state"`
		Trial struct {
			Progress struct{ Done, Total int } `json:"progress"`
		} `json:"trial"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.State != jobs.BatchTrialling || got.Trial.Progress.Total != 4 || got.Trial.Progress.Done != 0 || fb.sample != 4 {
		t.Errorf("answer: got %s, want trialling with progress 0/4", rec.Body)
	}
}

// start and retry below the trial's threshold answer 409 with the report; force starts.
func TestBatchStartBelowThreshold(t *testing.T) {
	t.Parallel()
	for _, action := range []string{"start", "retry"} {
		t.Run(action, func(t *testing.T) {
			t.Parallel()
			h, fb := setupBatches(t)
			rec := serve(h, "POST", "/v1/batches/bat_1/"+action, "", "")
			if rec.Code != http.StatusConflict || rec.Header().Get("Content-Type") != ProblemContentType {
				t.Fatalf("status: got %d %s, want a 409 problem (body %s)", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			var p struct {
				Type        string      `json:"type"`
				Status      int         `json:"status"`
				Detail      string      `json:"detail"`
				MinAccuracy float64     `json:"min_accuracy"`
				Trial       *jobs.Trial `json:"trial"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != ProblemTypePrefix+"trial-gate" || p.Status != 409 || !strings.Contains(p.Detail, "50.0% is below") || p.MinAccuracy != 0.95 {
				t.Errorf("problem: got %s, want trial-gate 409 naming the accuracy and min_accuracy", rec.Body)
			}
			if p.Trial == nil || p.Trial.Accuracy != 0.5 || p.Trial.Failures["product_fill"] != 2 || len(p.Trial.Failing) != 2 ||
				p.Trial.Failing[0].AfterURL == "" {
				t.Errorf("problem's trial: got %+v, want the report with its failing samples", p.Trial)
			}
			rec = serve(h, "POST", "/v1/batches/bat_1/"+action, "application/json", `{"force": true}`)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"state":"running"`) {
				t.Errorf("forced %s: got %d %s, want 200 running", action, rec.Code, rec.Body)
			}
			if !fb.opts[action].Force {
				t.Errorf("forced %s: options got %+v, want Force", action, fb.opts[action])
			}
		})
	}
}

// resume passes a raised max_cost on; bad action bodies are 400 problems, never 500.
func TestBatchActionBodies(t *testing.T) {
	t.Parallel()
	h, fb := setupBatches(t)
	rec := serve(h, "POST", "/v1/batches/bat_1/resume", "application/json", `{"max_cost": 12.5}`)
	if rec.Code != http.StatusOK || fb.opts["resume"].MaxCost == nil || *fb.opts["resume"].MaxCost != 12.5 {
		t.Errorf("resume with max_cost: got %d, options %+v; want 200 with MaxCost 12.5", rec.Code, fb.opts["resume"])
	}
	tests := []struct{ name, action, body, slug string }{
		{"force not a bool", "start", `{"force": "yes"}`, "malformed-json"},
		{"unknown member", "start", `{"forced": true}`, "malformed-json"},
		{"sample on start", "start", `{"sample": 3}`, "invalid-request"},
		{"max_cost on start", "start", `{"max_cost": 3}`, "invalid-request"},
		{"force on pause", "pause", `{"force": true}`, "invalid-request"},
		{"not JSON", "trial", `sample=3`, "malformed-json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(h, "POST", "/v1/batches/bat_1/"+tt.action, "application/json", tt.body)
			var p Problem
			json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != http.StatusBadRequest || p.Type != ProblemTypePrefix+tt.slug {
				t.Errorf("got %d %s, want 400 %s", rec.Code, rec.Body, tt.slug)
			}
		})
	}
}

// The create form carries min_accuracy, max_cost and review; a bad number is a 400.
func TestBatchCreateQualityFields(t *testing.T) {
	t.Parallel()
	form := func(fields [][2]string) (string, string) {
		var b strings.Builder
		mw := multipart.NewWriter(&b)
		for _, f := range fields {
			mw.WriteField(f[0], f[1])
		}
		w, _ := mw.CreateFormFile("manifest", "m.csv")
		io.WriteString(w, "url\nhttps://example.com/a.jpg\n")
		mw.Close()
		return b.String(), mw.FormDataContentType()
	}
	h, fb := setupBatches(t)
	body, ct := form([][2]string{{"recipe", "listing"}, {"min_accuracy", "0.8"}, {"max_cost", "12"}, {"review", "all"}})
	rec := serve(h, "POST", "/v1/batches", ct, body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: got %d %s, want 201", rec.Code, rec.Body)
	}
	c := fb.created
	if c.MinAccuracy == nil || *c.MinAccuracy != 0.8 || c.MaxCost == nil || *c.MaxCost != 12 || c.Review != "all" {
		t.Errorf("request: got min_accuracy %v max_cost %v review %q, want 0.8, 12, all", c.MinAccuracy, c.MaxCost, c.Review)
	}
	for _, bad := range [][2]string{{"min_accuracy", "most"}, {"max_cost", "NaN"}, {"max_cost", "Inf"}} {
		body, ct := form([][2]string{{"recipe", "listing"}, bad})
		rec := serve(h, "POST", "/v1/batches", ct, body)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s=%s: got %d %s, want 400", bad[0], bad[1], rec.Code, rec.Body)
		}
	}
}

// Extension members are written beside the standard ones and never replace them.
func TestProblemExtensions(t *testing.T) {
	t.Parallel()
	p := Problem{Type: ProblemTypePrefix + "x", Title: "X", Status: 409,
		Extensions: map[string]any{"trial": map[string]float64{"accuracy": 0.5}, "status": 200, "title": "no"}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	if got["status"] != float64(409) || got["title"] != "X" || got["trial"].(map[string]any)["accuracy"] != 0.5 {
		t.Errorf("problem JSON: got %s, want the standard members kept and trial added", b)
	}
	var back Problem
	if err := json.Unmarshal(b, &back); err != nil || back.Status != 409 || back.Title != "X" {
		t.Errorf("decode back: got %+v %v", back, err)
	}
}
