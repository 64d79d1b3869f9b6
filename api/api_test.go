package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/imaging"
)

// errUnexpectedCall is what the fake answers for a method the test did not set up.
var errUnexpectedCall = errors.New("fake catalog: unexpected call")

// fakeCatalog is a Catalog whose methods are set per test; unset methods fail with
// errUnexpectedCall (a 500). It records ingest and render calls and keeps idempotency
// answers in memory.
type fakeCatalog struct {
	// gpuRecipes makes RecipeNeedsSD say yes to every recipe.
	gpuRecipes    bool
	ingest        func(context.Context, catalog.IngestRequest) (*catalog.IngestResult, error)
	getImage      func(context.Context, string) (catalog.Image, error)
	listImages    func(context.Context, catalog.ListImagesQuery) ([]catalog.Image, string, error)
	openOriginal  func(context.Context, string) (io.ReadCloser, catalog.ObjectMeta, error)
	render        func(context.Context, string, catalog.RecipeRef, string) ([]catalog.Rendition, error)
	openRendition func(context.Context, string) (io.ReadCloser, catalog.ObjectMeta, error)
	putRecipe     func(context.Context, string, []byte) (catalog.StoredRecipe, bool, error)
	getRecipe     func(context.Context, string) (catalog.StoredRecipe, error)
	deleteRecipe  func(context.Context, string) error
	listRecipes   func(context.Context) ([]catalog.StoredRecipe, error)
	analyze       func(context.Context, string, []byte) (catalog.QualityReport, error)
	ready         func(context.Context) error
	deliver       func(ctx context.Context, id, recipe, ext, accept string, width int) (io.ReadCloser, catalog.ObjectMeta, error)
	list          func(ctx context.Context, id string) ([]catalog.Rendition, error)
	// gate admits uploads (Admit); a roomy one is made on first use when nil.
	gate      *imaging.Gate
	purge     func(context.Context, string) (int, error)
	lookupErr error
	// sessionErr, when set, fails RevokeSession and SessionRevoked.
	sessionErr error

	mu         sync.Mutex
	ingests    []catalog.IngestRequest
	renders    []renderCall
	idem       map[string]catalog.IdempotentResponse
	idemSaves  int
	analyzeReq []analyzeCall
	delivers   []deliverCall
	purges     []string
	revoked    map[string]time.Time
}

type deliverCall struct {
	ID, Recipe, Ext, Accept string
	Width                   int
}

type renderCall struct {
	ID     string
	Ref    catalog.RecipeRef
	Accept string
}

type analyzeCall struct {
	URL  string
	Data []byte
}

var _ Catalog = (*fakeCatalog)(nil)

func (f *fakeCatalog) Ingest(ctx context.Context, req catalog.IngestRequest) (*catalog.IngestResult, error) {
	f.mu.Lock()
	f.ingests = append(f.ingests, req)
	f.mu.Unlock()
	if f.ingest == nil {
		return nil, errUnexpectedCall
	}
	return f.ingest(ctx, req)
}

func (f *fakeCatalog) GetImage(ctx context.Context, id string) (catalog.Image, error) {
	if f.getImage == nil {
		return catalog.Image{}, errUnexpectedCall
	}
	return f.getImage(ctx, id)
}

func (f *fakeCatalog) ListImages(ctx context.Context, q catalog.ListImagesQuery) ([]catalog.Image, string, error) {
	if f.listImages == nil {
		return nil, "", errUnexpectedCall
	}
	return f.listImages(ctx, q)
}

func (f *fakeCatalog) OpenOriginal(ctx context.Context, id string) (io.ReadCloser, catalog.ObjectMeta, error) {
	if f.openOriginal == nil {
		return nil, catalog.ObjectMeta{}, errUnexpectedCall
	}
	return f.openOriginal(ctx, id)
}

func (f *fakeCatalog) Render(ctx context.Context, id string, ref catalog.RecipeRef, formats []imaging.Format) ([]catalog.Rendition, error) {
	accept := formatList(formats)
	f.mu.Lock()
	f.renders = append(f.renders, renderCall{ID: id, Ref: ref, Accept: accept})
	f.mu.Unlock()
	if f.render == nil {
		return nil, errUnexpectedCall
	}
	return f.render(ctx, id, ref, accept)
}

func (f *fakeCatalog) OpenRendition(ctx context.Context, id string) (io.ReadCloser, catalog.ObjectMeta, error) {
	if f.openRendition == nil {
		return nil, catalog.ObjectMeta{}, errUnexpectedCall
	}
	return f.openRendition(ctx, id)
}

func (f *fakeCatalog) PutRecipe(ctx context.Context, name string, body []byte) (catalog.StoredRecipe, bool, error) {
	if f.putRecipe == nil {
		return catalog.StoredRecipe{}, false, errUnexpectedCall
	}
	return f.putRecipe(ctx, name, body)
}

func (f *fakeCatalog) GetRecipe(ctx context.Context, name string) (catalog.StoredRecipe, error) {
	if f.getRecipe == nil {
		return catalog.StoredRecipe{}, errUnexpectedCall
	}
	return f.getRecipe(ctx, name)
}

func (f *fakeCatalog) DeleteRecipe(ctx context.Context, name string) error {
	if f.deleteRecipe == nil {
		return errUnexpectedCall
	}
	return f.deleteRecipe(ctx, name)
}

func (f *fakeCatalog) ListRecipes(ctx context.Context) ([]catalog.StoredRecipe, error) {
	if f.listRecipes == nil {
		return nil, errUnexpectedCall
	}
	return f.listRecipes(ctx)
}

func (f *fakeCatalog) Analyze(ctx context.Context, url string, data []byte) (catalog.QualityReport, error) {
	f.mu.Lock()
	f.analyzeReq = append(f.analyzeReq, analyzeCall{URL: url, Data: data})
	f.mu.Unlock()
	if f.analyze == nil {
		return catalog.QualityReport{}, errUnexpectedCall
	}
	return f.analyze(ctx, url, data)
}

func (f *fakeCatalog) Ready(ctx context.Context) error {
	if f.ready == nil {
		return errUnexpectedCall
	}
	return f.ready(ctx)
}

func (f *fakeCatalog) LookupIdempotency(_ context.Context, key string) (catalog.IdempotentResponse, bool, error) {
	if f.lookupErr != nil {
		return catalog.IdempotentResponse{}, false, f.lookupErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.idem[key]
	return r, ok, nil
}

func (f *fakeCatalog) SaveIdempotency(_ context.Context, key string, r catalog.IdempotentResponse) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.idem == nil {
		f.idem = map[string]catalog.IdempotentResponse{}
	}
	f.idem[key] = r
	f.idemSaves++
	return nil
}

// formatList is the accepted formats as the fakes record them: "avif,webp".
func formatList(fs []imaging.Format) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ",")
}

func (f *fakeCatalog) Deliver(ctx context.Context, id, recipe, ext string, formats []imaging.Format, width int) (io.ReadCloser, catalog.ObjectMeta, error) {
	accept := formatList(formats)
	f.mu.Lock()
	f.delivers = append(f.delivers, deliverCall{ID: id, Recipe: recipe, Ext: ext, Accept: accept, Width: width})
	f.mu.Unlock()
	if f.deliver == nil {
		return nil, catalog.ObjectMeta{}, errUnexpectedCall
	}
	return f.deliver(ctx, id, recipe, ext, accept, width)
}

func (f *fakeCatalog) PurgeRenditions(ctx context.Context, id string) (int, error) {
	f.mu.Lock()
	f.purges = append(f.purges, id)
	f.mu.Unlock()
	if f.purge == nil {
		return 0, errUnexpectedCall
	}
	return f.purge(ctx, id)
}

// RevokeSession and SessionRevoked keep signed-out sessions in memory, as the catalog
// keeps them in the database: routers sharing one fakeCatalog are replicas sharing one.
func (f *fakeCatalog) RevokeSession(_ context.Context, id string, expires time.Time) error {
	if f.sessionErr != nil {
		return f.sessionErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.revoked == nil {
		f.revoked = map[string]time.Time{}
	}
	if _, ok := f.revoked[id]; !ok {
		f.revoked[id] = expires
	}
	return nil
}

func (f *fakeCatalog) SessionRevoked(_ context.Context, id string) (bool, error) {
	if f.sessionErr != nil {
		return false, f.sessionErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.revoked[id]
	return ok, nil
}

func (f *fakeCatalog) deliverCalls() []deliverCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]deliverCall(nil), f.delivers...)
}

func (f *fakeCatalog) ingestCalls() []catalog.IngestRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]catalog.IngestRequest(nil), f.ingests...)
}

// lockedBuffer is a log sink safe for concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// bundle is what setup returns.
type bundle struct {
	h    http.Handler
	cat  *fakeCatalog
	reg  *prometheus.Registry
	logs *lockedBuffer
}

// setup builds the router over fc with cfg (DefaultConfig when nil) and a fresh registry.
func setup(t *testing.T, fc *fakeCatalog, cfg *Config) *bundle {
	t.Helper()
	if fc == nil {
		fc = &fakeCatalog{}
	}
	c := DefaultConfig()
	if cfg != nil {
		c = *cfg
	}
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	h, err := New(c, Deps{
		Catalog:    fc,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: reg,
		Gatherer:   reg,
	})
	if err != nil {
		t.Fatalf("New: got error %v, want nil", err)
	}
	return &bundle{h: h, cat: fc, reg: reg, logs: logs}
}

// do serves one request and returns the recorded answer.
func (b *bundle) do(t *testing.T, method, target string, body io.Reader, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec
}

// decodeProblem checks the problem+json answer and returns it.
func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	if got := rec.Header().Get("Content-Type"); got != ProblemContentType {
		t.Fatalf("Content-Type: got %q, want %q (body %s)", got, ProblemContentType, rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem %q: %v", rec.Body, err)
	}
	if p.Status != rec.Code {
		t.Errorf("problem status: got %d, want %d (the HTTP status)", p.Status, rec.Code)
	}
	if p.Title == "" {
		t.Errorf("problem title: got empty, want a title")
	}
	return p
}

// wantProblem checks status and problem type slug.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, slug string) Problem {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status: got %d, want %d (body %s)", rec.Code, status, rec.Body)
	}
	p := decodeProblem(t, rec)
	if want := ProblemTypePrefix + slug; p.Type != want {
		t.Errorf("problem type: got %q, want %q (detail %q)", p.Type, want, p.Detail)
	}
	return p
}

// multipartBody builds a multipart/form-data body; a field named "file" is a file part.
func multipartBody(t *testing.T, fields [][2]string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		var w io.Writer
		var err error
		if f[0] == "file" {
			w, err = mw.CreateFormFile("file", "image.jpg")
		} else {
			w, err = mw.CreateFormField(f[0])
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		if _, err := io.WriteString(w, f[1]); err != nil {
			t.Fatalf("multipart: %v", err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatalf("multipart: %v", err)
	}
	return &buf, mw.FormDataContentType()
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr bool
	}{
		{"defaults", func(*Config) {}, false},
		{"zero source limit", func(c *Config) { c.MaxSourceBytes = 0 }, true},
		{"negative json limit", func(c *Config) { c.MaxJSONBytes = -1 }, true},
		{"empty version is fine", func(c *Config) { c.Version = "" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("Validate: got error %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate: got %v, want it to wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewValidatesDeps(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	tests := []struct {
		name string
		cfg  Config
		deps Deps
	}{
		{"bad config", Config{}, Deps{Catalog: &fakeCatalog{}, Registerer: reg, Gatherer: reg}},
		{"no catalog", DefaultConfig(), Deps{Registerer: reg, Gatherer: reg}},
		{"no registerer", DefaultConfig(), Deps{Catalog: &fakeCatalog{}, Gatherer: reg}},
		{"no gatherer", DefaultConfig(), Deps{Catalog: &fakeCatalog{}, Registerer: reg}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := New(tt.cfg, tt.deps)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New: got error %v, want ErrInvalidConfig", err)
			}
			if h != nil {
				t.Errorf("New: got handler %v, want nil", h)
			}
		})
	}
}

func TestNewRegistersOnce(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	deps := Deps{Catalog: &fakeCatalog{}, Registerer: reg, Gatherer: reg}
	if _, err := New(DefaultConfig(), deps); err != nil {
		t.Fatalf("first New: got %v, want nil", err)
	}
	if _, err := New(DefaultConfig(), deps); err == nil {
		t.Fatalf("second New on the same registry: got nil, want a registration error")
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, nil)
	tests := []struct {
		name string
		sent string
		keep bool
	}{
		{"kept when well formed", "abc-123_X.y", true},
		{"made when absent", "", false},
		{"made when malformed", "bad id\x01", false},
		{"made when too long", strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hdr := map[string]string{}
			if tt.sent != "" {
				hdr[RequestIDHeader] = tt.sent
			}
			rec := b.do(t, http.MethodGet, "/nope", nil, hdr)
			got := rec.Header().Get(RequestIDHeader)
			if tt.keep && got != tt.sent {
				t.Errorf("X-Request-Id: got %q, want %q", got, tt.sent)
			}
			if !tt.keep && (got == "" || got == tt.sent || !validRequestID(got)) {
				t.Errorf("X-Request-Id: got %q, want a fresh well-formed id", got)
			}
			if p := decodeProblem(t, rec); p.RequestID != got {
				t.Errorf("problem request_id: got %q, want %q", p.RequestID, got)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, nil)
	tests := []struct {
		name      string
		method    string
		target    string
		status    int
		slug      string
		wantAllow string
	}{
		{"unknown route", http.MethodGet, "/v2/images", http.StatusNotFound, "not-found", ""},
		{"unknown route under v1", http.MethodGet, "/v1/nothing", http.StatusNotFound, "not-found", ""},
		{"unknown sub route", http.MethodGet, "/v1/images/x/nope", http.StatusNotFound, "not-found", ""},
		{"delete on images", http.MethodDelete, "/v1/images", http.StatusMethodNotAllowed, "method-not-allowed", "GET, HEAD, POST"},
		{"post on healthz", http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "method-not-allowed", "GET, HEAD"},
		{"patch on recipe", http.MethodPatch, "/v1/recipes/a", http.StatusMethodNotAllowed, "method-not-allowed", "GET, HEAD, PUT, DELETE"},
		{"unknown method on unknown path", "BREW", "/coffee", http.StatusNotFound, "not-found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := b.do(t, tt.method, tt.target, nil, nil)
			p := wantProblem(t, rec, tt.status, tt.slug)
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow: got %q, want %q", got, tt.wantAllow)
			}
			if p.Instance != strings.SplitN(tt.target, "?", 2)[0] {
				t.Errorf("problem instance: got %q, want %q", p.Instance, tt.target)
			}
		})
	}
}

func TestRecoverPanic(t *testing.T) {
	t.Parallel()
	fc := &fakeCatalog{getImage: func(context.Context, string) (catalog.Image, error) {
		panic("boom in the catalog")
	}}
	b := setup(t, fc, nil)
	rec := b.do(t, http.MethodGet, "/v1/images/abc", nil, nil)
	p := wantProblem(t, rec, http.StatusInternalServerError, "internal")
	if strings.Contains(p.Detail, "boom") {
		t.Errorf("detail: got %q, want no panic value leaked", p.Detail)
	}
	logs := b.logs.String()
	for _, want := range []string{"panic serving request", "boom in the catalog", "level=ERROR", "stack="} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs: got %q, want them to contain %q", logs, want)
		}
	}
}

func TestRecoverAfterHeadersAbortsConnection(t *testing.T) {
	t.Parallel()
	fc := &fakeCatalog{openOriginal: func(context.Context, string) (io.ReadCloser, catalog.ObjectMeta, error) {
		return io.NopCloser(panicReader{}), catalog.ObjectMeta{ContentType: "image/png", Size: 0}, nil
	}}
	b := setup(t, fc, nil)
	srv := httptest.NewServer(b.h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/v1/images/abc/content")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatalf("reading a response whose handler panicked mid-body: got no error, want a broken response")
	}
	if logs := b.logs.String(); !strings.Contains(logs, "panic serving request") {
		t.Errorf("logs: got %q, want the panic logged", logs)
	}
}

type panicReader struct{}

func (panicReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	panic("storage reader exploded")
}

func TestHealth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		target     string
		ready      error
		wantStatus int
		wantBody   string
		wantSlug   string
	}{
		{"healthz", "/healthz", nil, http.StatusOK, `"status":"ok"`, ""},
		{"readyz ready", "/readyz", nil, http.StatusOK, `"status":"ready"`, ""},
		{"readyz not ready", "/readyz", errors.New("database: connection refused"), http.StatusServiceUnavailable, "connection refused", "not-ready"},
		{"readyz not ready even for not implemented", "/readyz", catalog.ErrNotImplemented, http.StatusServiceUnavailable, "not implemented", "not-ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ready := tt.ready
			b := setup(t, &fakeCatalog{ready: func(context.Context) error { return ready }}, nil)
			rec := b.do(t, http.MethodGet, tt.target, nil, nil)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantSlug != "" {
				p := wantProblem(t, rec, tt.wantStatus, tt.wantSlug)
				if !strings.Contains(p.Detail, tt.wantBody) {
					t.Errorf("detail: got %q, want it to contain %q", p.Detail, tt.wantBody)
				}
				return
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", got)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body: got %s, want it to contain %s", rec.Body, tt.wantBody)
			}
		})
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, nil)
	rec := b.do(t, http.MethodGet, "/openapi.json", nil, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", got)
	}
	if !bytes.Equal(rec.Body.Bytes(), openAPIDoc) {
		t.Errorf("body: got %d bytes, want the embedded document (%d bytes)", rec.Body.Len(), len(openAPIDoc))
	}
}

// The routes for GPU work are exercised end to end against the stand-in WebUI in
// cmd/pictor; the fake treats every recipe as classic (unless gpuRecipes) and refuses
// scene calls.
func (f *fakeCatalog) RecipeNeedsSD(ctx context.Context, ref catalog.RecipeRef) (bool, []byte, error) {
	return f.gpuRecipes, ref.Inline, nil
}
func (f *fakeCatalog) GetScene(context.Context, string) (catalog.Scene, error) {
	return catalog.Scene{}, errUnexpectedCall
}
func (f *fakeCatalog) ApproveScene(context.Context, string, int, string) (catalog.Scene, error) {
	return catalog.Scene{}, errUnexpectedCall
}
func (f *fakeCatalog) OpenScenePreview(context.Context, string) (io.ReadCloser, catalog.ObjectMeta, error) {
	return nil, catalog.ObjectMeta{}, errUnexpectedCall
}
func (f *fakeCatalog) PutTemplate(context.Context, catalog.PromptTemplate) (catalog.PromptTemplate, bool, error) {
	return catalog.PromptTemplate{}, false, errUnexpectedCall
}
func (f *fakeCatalog) GetTemplate(context.Context, string) (catalog.PromptTemplate, error) {
	return catalog.PromptTemplate{}, errUnexpectedCall
}
func (f *fakeCatalog) ListTemplates(context.Context) ([]catalog.PromptTemplate, error) {
	return nil, errUnexpectedCall
}
func (f *fakeCatalog) DeleteTemplate(context.Context, string) error { return errUnexpectedCall }

func (f *fakeCatalog) ListRenditions(ctx context.Context, id string) ([]catalog.Rendition, error) {
	if f.list == nil {
		return nil, errUnexpectedCall
	}
	return f.list(ctx, id)
}

func (f *fakeCatalog) PreviewSelection(context.Context, catalog.Selection, int) (catalog.SelectionPreview, error) {
	return catalog.SelectionPreview{}, errUnexpectedCall
}

func (f *fakeCatalog) SetImageMeta(context.Context, string, map[string]*string) (catalog.Image, error) {
	return catalog.Image{}, errUnexpectedCall
}

func (f *fakeCatalog) Admit(ctx context.Context, n int64) (*imaging.Reservation, error) {
	f.mu.Lock()
	if f.gate == nil {
		f.gate = imaging.NewGate(4, 64)
	}
	g := f.gate
	f.mu.Unlock()
	return g.Reserve(ctx, n)
}
