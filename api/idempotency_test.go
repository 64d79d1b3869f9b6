package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pictor/pictor/auth"
	"github.com/pictor/pictor/catalog"
)

func TestIdempotencyReplay(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	fc := &fakeCatalog{ingest: func(ctx context.Context, req catalog.IngestRequest) (*catalog.IngestResult, error) {
		n := calls.Add(1)
		res, _ := okIngest(ctx, req)
		res.Image.ID = "img-" + string(rune('0'+n)) // a second run would answer differently
		return res, nil
	}}
	b := setup(t, fc, nil)
	send := func(key, body string) *httpResult {
		rec := b.do(t, http.MethodPost, "/v1/images?sku=A", strings.NewReader(body),
			map[string]string{"Content-Type": "image/jpeg", IdempotencyKeyHeader: key})
		return &httpResult{code: rec.Code, body: rec.Body.String(), replayed: rec.Header().Get(IdempotentReplayedHeader), ct: rec.Header().Get("Content-Type")}
	}

	first := send("key-1", "BYTES")
	if first.code != http.StatusCreated || first.replayed != "" {
		t.Fatalf("first: got %d replayed %q, want 201 not replayed", first.code, first.replayed)
	}
	second := send("key-1", "BYTES")
	if second.code != http.StatusCreated {
		t.Fatalf("replay status: got %d, want 201", second.code)
	}
	if second.replayed != "true" {
		t.Errorf("Idempotent-Replayed: got %q, want true", second.replayed)
	}
	if second.body != first.body {
		t.Errorf("replay body: got %s, want %s", second.body, first.body)
	}
	if second.ct != "application/json" {
		t.Errorf("replay Content-Type: got %q, want application/json", second.ct)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("ingest calls: got %d, want 1", got)
	}

	mismatch := b.do(t, http.MethodPost, "/v1/images?sku=A", strings.NewReader("OTHER BYTES"),
		map[string]string{"Content-Type": "image/jpeg", IdempotencyKeyHeader: "key-1"})
	wantProblem(t, mismatch, http.StatusUnprocessableEntity, "idempotency-mismatch")
	otherQuery := b.do(t, http.MethodPost, "/v1/images?sku=B", strings.NewReader("BYTES"),
		map[string]string{"Content-Type": "image/jpeg", IdempotencyKeyHeader: "key-1"})
	wantProblem(t, otherQuery, http.StatusUnprocessableEntity, "idempotency-mismatch")
	otherType := b.do(t, http.MethodPost, "/v1/images?sku=A", strings.NewReader("BYTES"),
		map[string]string{"Content-Type": "image/png", IdempotencyKeyHeader: "key-1"})
	wantProblem(t, otherType, http.StatusUnprocessableEntity, "idempotency-mismatch")
	otherRoute := b.do(t, http.MethodPost, "/v1/analyze?sku=A", strings.NewReader("BYTES"),
		map[string]string{"Content-Type": "image/jpeg", IdempotencyKeyHeader: "key-1"})
	wantProblem(t, otherRoute, http.StatusUnprocessableEntity, "idempotency-mismatch")

	third := send("key-2", "BYTES")
	if third.code != http.StatusCreated || third.replayed != "" || third.body == first.body {
		t.Errorf("new key: got %d replayed %q body %s, want a fresh 201", third.code, third.replayed, third.body)
	}
	noKey := b.do(t, http.MethodPost, "/v1/images", strings.NewReader("BYTES"), map[string]string{"Content-Type": "image/jpeg"})
	if noKey.Code != http.StatusCreated {
		t.Errorf("without key: got %d, want 201", noKey.Code)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("ingest calls: got %d, want 3", got)
	}
}

type httpResult struct {
	code     int
	body     string
	replayed string
	ct       string
}

func TestIdempotencyReplaysClientErrors(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	fc := &fakeCatalog{render: func(context.Context, string, catalog.RecipeRef, string) ([]catalog.Rendition, error) {
		calls.Add(1)
		return nil, catalog.ErrNotFound
	}}
	b := setup(t, fc, nil)
	for i, wantReplayed := range []string{"", "true"} {
		rec := b.do(t, http.MethodPost, "/v1/images/x/renditions", strings.NewReader(`{"recipe":"a"}`),
			map[string]string{"Content-Type": "application/json", IdempotencyKeyHeader: "k"})
		wantProblem(t, rec, http.StatusNotFound, "not-found")
		if got := rec.Header().Get(IdempotentReplayedHeader); got != wantReplayed {
			t.Errorf("request %d Idempotent-Replayed: got %q, want %q", i, got, wantReplayed)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("render calls: got %d, want 1", got)
	}
}

func TestIdempotencyDoesNotKeepServerErrors(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	fc := &fakeCatalog{render: func(context.Context, string, catalog.RecipeRef, string) ([]catalog.Rendition, error) {
		if calls.Add(1) == 1 {
			return nil, catalog.ErrUnavailable
		}
		return []catalog.Rendition{{ID: "r"}}, nil
	}}
	b := setup(t, fc, nil)
	hdr := map[string]string{"Content-Type": "application/json", IdempotencyKeyHeader: "k"}
	first := b.do(t, http.MethodPost, "/v1/images/x/renditions", strings.NewReader(`{"recipe":"a"}`), hdr)
	wantProblem(t, first, http.StatusServiceUnavailable, "database-unavailable")
	second := b.do(t, http.MethodPost, "/v1/images/x/renditions", strings.NewReader(`{"recipe":"a"}`), hdr)
	if second.Code != http.StatusCreated || second.Header().Get(IdempotentReplayedHeader) != "" {
		t.Fatalf("retry after 503: got %d replayed %q, want a fresh 201", second.Code, second.Header().Get(IdempotentReplayedHeader))
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("render calls: got %d, want 2", got)
	}
}

func TestIdempotencyOnPut(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	fc := &fakeCatalog{putRecipe: func(_ context.Context, name string, _ []byte) (catalog.StoredRecipe, bool, error) {
		return storedRecipe(name), calls.Add(1) == 1, nil
	}}
	b := setup(t, fc, nil)
	for i := range 2 {
		rec := b.do(t, http.MethodPut, "/v1/recipes/a", strings.NewReader(`{"outputs":[]}`),
			map[string]string{"Content-Type": "application/json", IdempotencyKeyHeader: "put-1"})
		if rec.Code != http.StatusCreated {
			t.Errorf("request %d: got %d, want 201 (the first answer)", i, rec.Code)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("put calls: got %d, want 1", got)
	}
}

func TestIdempotencyKeyValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"plain", "abc-123", true},
		{"structured header string", `"8e03978e-40d5-43e8-bc93-6894a57f9324"`, true},
		{"255 chars", strings.Repeat("k", 255), true},
		{"256 chars", strings.Repeat("k", 256), false},
		{"non-ascii", "clé", false},
		{"control character", "a\tb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, &fakeCatalog{ingest: okIngest}, nil)
			req := newRawRequest(t, tt.key)
			b.h.ServeHTTP(req.rec, req.req)
			if tt.ok {
				if req.rec.Code != http.StatusCreated {
					t.Errorf("status: got %d, want 201 (body %s)", req.rec.Code, req.rec.Body)
				}
				return
			}
			wantProblem(t, req.rec, http.StatusBadRequest, "invalid-request")
			if n := len(b.cat.ingestCalls()); n != 0 {
				t.Errorf("ingest calls: got %d, want 0", n)
			}
		})
	}
}

func TestIdempotencyLookupFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, &fakeCatalog{ingest: okIngest, lookupErr: errors.Join(catalog.ErrUnavailable)}, nil)
	req := newRawRequest(t, "k")
	b.h.ServeHTTP(req.rec, req.req)
	wantProblem(t, req.rec, http.StatusServiceUnavailable, "database-unavailable")
	if n := len(b.cat.ingestCalls()); n != 0 {
		t.Errorf("ingest calls: got %d, want 0", n)
	}
}

func TestRequestHashSeparatesParts(t *testing.T) {
	t.Parallel()
	a := newRawRequest(t, "k")
	a.req.Header.Set("Content-Type", "image/jpeg")
	b := newRawRequest(t, "k")
	b.req.Header.Set("Content-Type", "image/jpe")
	if requestHash(a.req, []byte("gX")) == requestHash(b.req, []byte("ggX")) {
		t.Errorf("hash: got equal hashes for content type/body split differently, want different")
	}
	if requestHash(a.req, []byte("X")) != requestHash(a.req, []byte("X")) {
		t.Errorf("hash: got different hashes for the same request, want equal")
	}
}

type rawRequest struct {
	req *http.Request
	rec *httptest.ResponseRecorder
}

// newRawRequest is a raw-bytes POST /v1/images carrying an Idempotency-Key.
func newRawRequest(t *testing.T, key string) rawRequest {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/images", strings.NewReader("BYTES"))
	req.Header.Set("Content-Type", "image/jpeg")
	req.Header.Set(IdempotencyKeyHeader, key)
	return rawRequest{req: req, rec: httptest.NewRecorder()}
}

// countingIngest answers each ingest with a fresh image ID, so a replayed answer is told
// apart from a second run.
func countingIngest(calls *atomic.Int32) func(context.Context, catalog.IngestRequest) (*catalog.IngestResult, error) {
	return func(ctx context.Context, req catalog.IngestRequest) (*catalog.IngestResult, error) {
		n := calls.Add(1)
		res, _ := okIngest(ctx, req)
		res.Image.ID = fmt.Sprintf("img-%d", n)
		return res, nil
	}
}

func TestIdempotencyScopedPerCaller(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	cfg := DefaultConfig()
	cfg.Keys = tk.keys
	var calls atomic.Int32
	b := setup(t, &fakeCatalog{ingest: countingIngest(&calls)}, &cfg)
	send := func(secret, body string) *httptest.ResponseRecorder {
		return b.do(t, http.MethodPost, "/v1/images?sku=A", strings.NewReader(body), map[string]string{
			"Authorization": "Bearer " + secret, "Content-Type": "image/jpeg", IdempotencyKeyHeader: "shared",
		})
	}

	steps := []struct {
		name, secret, body string
		wantCode           int
		wantReplayOf       string // name of the step whose answer is replayed; "" for a fresh run
	}{
		{"writer first use", tk.write, "WRITER BYTES", http.StatusCreated, ""},
		{"admin same key other body", tk.admin, "ADMIN BYTES", http.StatusCreated, ""},
		{"admin same key writer body", tk.admin, "WRITER BYTES", http.StatusUnprocessableEntity, ""},
		{"writer replay", tk.write, "WRITER BYTES", http.StatusCreated, "writer first use"},
		{"admin replay", tk.admin, "ADMIN BYTES", http.StatusCreated, "admin same key other body"},
		{"writer same key other body", tk.write, "OTHER BYTES", http.StatusUnprocessableEntity, ""},
	}
	answers := map[string]string{}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			rec := send(st.secret, st.body)
			answers[st.name] = rec.Body.String()
			if st.wantCode == http.StatusUnprocessableEntity {
				wantProblem(t, rec, st.wantCode, "idempotency-mismatch")
				return
			}
			if rec.Code != st.wantCode {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, st.wantCode, rec.Body)
			}
			replayed := rec.Header().Get(IdempotentReplayedHeader)
			if st.wantReplayOf == "" {
				if replayed != "" {
					t.Errorf("Idempotent-Replayed: got %q, want a fresh run", replayed)
				}
				for name, other := range answers {
					if name != st.name && other == rec.Body.String() {
						t.Errorf("body: got the answer of %q (%s), want a fresh one", name, other)
					}
				}
				return
			}
			if replayed != "true" {
				t.Errorf("Idempotent-Replayed: got %q, want true", replayed)
			}
			if want := answers[st.wantReplayOf]; rec.Body.String() != want {
				t.Errorf("body: got %s, want the answer of %q: %s", rec.Body, st.wantReplayOf, want)
			}
		})
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("ingest calls: got %d, want 2 (one per caller)", got)
	}
}

// TestIdempotencyScopeSurvivesKeyReorder checks that a key's scope follows the key itself,
// not its position: another replica (or a restart) listing the keys in another order still
// replays the first answer.
func TestIdempotencyScopeSurvivesKeyReorder(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	var calls atomic.Int32
	fc := &fakeCatalog{ingest: countingIngest(&calls)}
	first := DefaultConfig()
	first.Keys = tk.keys
	reordered := DefaultConfig()
	reordered.Keys = []auth.Key{tk.keys[2], tk.keys[1], tk.keys[0]}
	// The admin key moves from index 2 to index 0.
	hdr := map[string]string{"Authorization": "Bearer " + tk.admin, "Content-Type": "image/jpeg", IdempotencyKeyHeader: "k"}

	a := setup(t, fc, &first).do(t, http.MethodPost, "/v1/images", strings.NewReader("BYTES"), hdr)
	if a.Code != http.StatusCreated {
		t.Fatalf("first: got %d, want 201 (body %s)", a.Code, a.Body)
	}
	b := setup(t, fc, &reordered).do(t, http.MethodPost, "/v1/images", strings.NewReader("BYTES"), hdr)
	if b.Code != http.StatusCreated || b.Header().Get(IdempotentReplayedHeader) != "true" || b.Body.String() != a.Body.String() {
		t.Errorf("other replica: got %d replayed %q body %s, want the replayed 201 %s",
			b.Code, b.Header().Get(IdempotentReplayedHeader), b.Body, a.Body)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("ingest calls: got %d, want 1", got)
	}
}

func TestStoredIdempotencyKey(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", maxIdempotencyKey)
	tests := []struct {
		name         string
		scopeA, keyA string
		scopeB, keyB string
	}{
		{"same key, other scope", "key:aa", "k", "key:bb", "k"},
		{"open versus a key", openIdempotencyScope, "k", "key:aa", "k"},
		{"boundary moved", "key:a", "ab", "key:aa", "b"},
		{"longest keys", "key:aa", long, "key:bb", long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := storedIdempotencyKey(tt.scopeA, tt.keyA), storedIdempotencyKey(tt.scopeB, tt.keyB)
			if a == b {
				t.Errorf("stored keys: got equal %q, want different", a)
			}
			for _, k := range []string{a, b} {
				if len(k) != 2*sha256.Size {
					t.Errorf("stored key length: got %d, want %d", len(k), 2*sha256.Size)
				}
			}
			if again := storedIdempotencyKey(tt.scopeA, tt.keyA); again != a {
				t.Errorf("stored key: got %q then %q, want stable", a, again)
			}
		})
	}
}
