package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

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
