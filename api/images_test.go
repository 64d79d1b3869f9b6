package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/imaging"
)

func okIngest(_ context.Context, req catalog.IngestRequest) (*catalog.IngestResult, error) {
	res := &catalog.IngestResult{Image: catalog.Image{ID: "img-1", SHA256: "abc", SKU: req.SKU, Width: 10, Height: 20, Format: "jpeg"}}
	if !req.Recipe.IsZero() {
		res.Renditions = []catalog.Rendition{{ID: "r-1", Name: "main", Format: "webp"}}
	}
	return res, nil
}

func TestIngestForms(t *testing.T) {
	t.Parallel()
	mpNamed, mpNamedCT := multipartBody(t, [][2]string{{"sku", "A-1"}, {"recipe", "listing-main"}, {"file", "JPEGBYTES"}})
	mpInline, mpInlineCT := multipartBody(t, [][2]string{{"file", "PNGBYTES"}, {"recipe", ` {"outputs":[{"name":"main"}]}`}})
	tests := []struct {
		name   string
		target string
		ct     string
		body   string
		want   catalog.IngestRequest
	}{
		{
			name: "json with recipe name", target: "/v1/images", ct: "application/json",
			body: `{"url":"https://example.com/a.jpg","sku":"A-1","recipe":"listing-main"}`,
			want: catalog.IngestRequest{URL: "https://example.com/a.jpg", SKU: "A-1", Recipe: catalog.RecipeRef{Name: "listing-main"}},
		},
		{
			name: "json with inline recipe and accept hint", target: "/v1/images?accept=image/avif", ct: "application/json; charset=utf-8",
			body: `{"url":"https://example.com/a.jpg","recipe":{"outputs":[{"name":"main"}]}}`,
			want: catalog.IngestRequest{URL: "https://example.com/a.jpg", Recipe: catalog.RecipeRef{Inline: []byte(`{"outputs":[{"name":"main"}]}`)}, Accept: []imaging.Format{imaging.AVIF}},
		},
		{
			name: "json without recipe", target: "/v1/images", ct: "application/json",
			body: `{"url":"https://example.com/a.jpg","recipe":null}`,
			want: catalog.IngestRequest{URL: "https://example.com/a.jpg"},
		},
		{
			name: "multipart with named recipe", target: "/v1/images", ct: mpNamedCT, body: mpNamed.String(),
			want: catalog.IngestRequest{Data: []byte("JPEGBYTES"), SKU: "A-1", Recipe: catalog.RecipeRef{Name: "listing-main"}},
		},
		{
			name: "multipart with inline recipe", target: "/v1/images", ct: mpInlineCT, body: mpInline.String(),
			want: catalog.IngestRequest{Data: []byte("PNGBYTES"), Recipe: catalog.RecipeRef{Inline: []byte(`{"outputs":[{"name":"main"}]}`)}},
		},
		{
			name: "raw image with query", target: "/v1/images?sku=B-2&recipe=thumbs&accept=image/webp", ct: "image/jpeg", body: "RAWBYTES",
			want: catalog.IngestRequest{Data: []byte("RAWBYTES"), SKU: "B-2", Recipe: catalog.RecipeRef{Name: "thumbs"}, Accept: []imaging.Format{imaging.WebP}},
		},
		{
			name: "octet stream without meta", target: "/v1/images", ct: "application/octet-stream", body: "RAW",
			want: catalog.IngestRequest{Data: []byte("RAW")},
		},
		{
			name: "no content type is raw", target: "/v1/images", ct: "", body: "RAW",
			want: catalog.IngestRequest{Data: []byte("RAW")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, &fakeCatalog{ingest: okIngest}, nil)
			hdr := map[string]string{}
			if tt.ct != "" {
				hdr["Content-Type"] = tt.ct
			}
			rec := b.do(t, http.MethodPost, tt.target, strings.NewReader(tt.body), hdr)
			if rec.Code != http.StatusCreated {
				t.Fatalf("status: got %d, want 201 (body %s)", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Location"); got != "/v1/images/img-1" {
				t.Errorf("Location: got %q, want /v1/images/img-1", got)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", got)
			}
			var res catalog.IngestResult
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
				t.Fatalf("decode %s: %v", rec.Body, err)
			}
			if res.Image.ID != "img-1" {
				t.Errorf("image id: got %q, want img-1", res.Image.ID)
			}
			if got, want := len(res.Renditions) > 0, !tt.want.Recipe.IsZero(); got != want {
				t.Errorf("renditions present: got %v, want %v", got, want)
			}
			calls := b.cat.ingestCalls()
			if len(calls) != 1 {
				t.Fatalf("ingest calls: got %d, want 1", len(calls))
			}
			assertIngest(t, calls[0], tt.want)
		})
	}
}

func assertIngest(t *testing.T, got, want catalog.IngestRequest) {
	t.Helper()
	if got.URL != want.URL {
		t.Errorf("URL: got %q, want %q", got.URL, want.URL)
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("Data: got %q, want %q", got.Data, want.Data)
	}
	if got.SKU != want.SKU {
		t.Errorf("SKU: got %q, want %q", got.SKU, want.SKU)
	}
	if got.Recipe.Name != want.Recipe.Name {
		t.Errorf("Recipe.Name: got %q, want %q", got.Recipe.Name, want.Recipe.Name)
	}
	if !bytes.Equal(got.Recipe.Inline, want.Recipe.Inline) {
		t.Errorf("Recipe.Inline: got %s, want %s", got.Recipe.Inline, want.Recipe.Inline)
	}
	if !slices.Equal(got.Accept, want.Accept) {
		t.Errorf("Accept: got %q, want %q", got.Accept, want.Accept)
	}
}

func TestIngestRejects(t *testing.T) {
	t.Parallel()
	mpUnknown, mpUnknownCT := multipartBody(t, [][2]string{{"file", "X"}, {"color", "red"}})
	mpNoFile, mpNoFileCT := multipartBody(t, [][2]string{{"sku", "A-1"}})
	mpTwice, mpTwiceCT := multipartBody(t, [][2]string{{"file", "X"}, {"file", "Y"}})
	mpBadRecipe, mpBadRecipeCT := multipartBody(t, [][2]string{{"file", "X"}, {"recipe", "{not json"}})
	tests := []struct {
		name   string
		ct     string
		body   string
		status int
		slug   string
	}{
		{"json unknown field", "application/json", `{"url":"https://e.com/a","colour":"red"}`, 400, "malformed-json"},
		{"json syntax error", "application/json", `{"url":`, 400, "malformed-json"},
		{"json two values", "application/json", `{"url":"https://e.com/a"} {}`, 400, "malformed-json"},
		{"json empty body", "application/json", ``, 400, "malformed-json"},
		{"json wrong type", "application/json", `{"url":5}`, 400, "malformed-json"},
		{"json without url", "application/json", `{"sku":"A-1"}`, 400, "invalid-request"},
		{"json recipe is a number", "application/json", `{"url":"https://e.com/a","recipe":5}`, 400, "invalid-request"},
		{"json recipe is empty name", "application/json", `{"url":"https://e.com/a","recipe":""}`, 400, "invalid-request"},
		{"raw empty body", "image/jpeg", ``, 400, "invalid-request"},
		{"multipart unknown field", mpUnknownCT, mpUnknown.String(), 400, "invalid-request"},
		{"multipart without file", mpNoFileCT, mpNoFile.String(), 400, "invalid-request"},
		{"multipart file twice", mpTwiceCT, mpTwice.String(), 400, "invalid-request"},
		{"multipart bad inline recipe", mpBadRecipeCT, mpBadRecipe.String(), 400, "malformed-json"},
		{"multipart without boundary", "multipart/form-data", "x", 400, "invalid-request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, &fakeCatalog{ingest: okIngest}, nil)
			rec := b.do(t, http.MethodPost, "/v1/images", strings.NewReader(tt.body), map[string]string{"Content-Type": tt.ct})
			wantProblem(t, rec, tt.status, tt.slug)
			if n := len(b.cat.ingestCalls()); n != 0 {
				t.Errorf("ingest calls: got %d, want 0", n)
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.MaxSourceBytes = 1000
	cfg.MaxJSONBytes = 100
	big := strings.Repeat("x", 1001)
	mpBig, mpBigCT := multipartBody(t, [][2]string{{"file", big}})
	mpSmallFileBigSKU, mpSmallFileBigSKUCT := multipartBody(t, [][2]string{{"file", "x"}, {"sku", strings.Repeat("s", 101)}})
	tests := []struct {
		name   string
		method string
		target string
		ct     string
		body   string
		key    string
	}{
		{"raw upload", http.MethodPost, "/v1/images", "image/jpeg", big, ""},
		{"raw upload with idempotency key", http.MethodPost, "/v1/images", "image/jpeg", big, "k1"},
		{"multipart upload", http.MethodPost, "/v1/images", mpBigCT, mpBig.String(), ""},
		{"multipart text field", http.MethodPost, "/v1/images", mpSmallFileBigSKUCT, mpSmallFileBigSKU.String(), ""},
		{"json ingest", http.MethodPost, "/v1/images", "application/json", `{"url":"` + strings.Repeat("u", 100) + `"}`, ""},
		{"analyze upload", http.MethodPost, "/v1/analyze", "application/octet-stream", big, ""},
		{"render body", http.MethodPost, "/v1/images/a/renditions", "application/json", `{"recipe":"` + strings.Repeat("r", 100) + `"}`, ""},
		{"recipe body", http.MethodPut, "/v1/recipes/a", "application/json", `{"steps":"` + strings.Repeat("r", 100) + `"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, &fakeCatalog{ingest: okIngest}, &cfg)
			hdr := map[string]string{"Content-Type": tt.ct}
			if tt.key != "" {
				hdr[IdempotencyKeyHeader] = tt.key
			}
			rec := b.do(t, tt.method, tt.target, strings.NewReader(tt.body), hdr)
			wantProblem(t, rec, http.StatusRequestEntityTooLarge, "body-too-large")
			if n := len(b.cat.ingestCalls()); n != 0 {
				t.Errorf("ingest calls: got %d, want 0", n)
			}
		})
	}
}

func TestListImages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		query     string
		images    []catalog.Image
		wantQuery catalog.ListImagesQuery
		wantBody  string
	}{
		{"defaults", "", nil, catalog.ListImagesQuery{Limit: 50}, `{"images":[],"next_cursor":"next"}`},
		{"all parameters", "?sku=A-1&cursor=c1&limit=200", []catalog.Image{{ID: "i1"}}, catalog.ListImagesQuery{Selection: catalog.Selection{SKUs: []string{"A-1"}}, Cursor: "c1", Limit: 200}, `"id":"i1"`},
		{"smallest limit", "?limit=1", nil, catalog.ListImagesQuery{Limit: 1}, `"images":[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got catalog.ListImagesQuery
			images := tt.images
			b := setup(t, &fakeCatalog{listImages: func(_ context.Context, q catalog.ListImagesQuery) ([]catalog.Image, string, error) {
				got = q
				return images, "next", nil
			}}, nil)
			rec := b.do(t, http.MethodGet, "/v1/images"+tt.query, nil, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status: got %d, want 200 (body %s)", rec.Code, rec.Body)
			}
			if !reflect.DeepEqual(got, tt.wantQuery) {
				t.Errorf("query: got %+v, want %+v", got, tt.wantQuery)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body: got %s, want it to contain %s", rec.Body, tt.wantBody)
			}
			if !strings.Contains(rec.Body.String(), `"next_cursor":"next"`) {
				t.Errorf("body: got %s, want next_cursor", rec.Body)
			}
		})
	}
}

func TestListImagesBadLimit(t *testing.T) {
	t.Parallel()
	for _, limit := range []string{"0", "201", "-1", "ten", "1.5"} {
		t.Run(limit, func(t *testing.T) {
			t.Parallel()
			b := setup(t, &fakeCatalog{}, nil)
			rec := b.do(t, http.MethodGet, "/v1/images?limit="+limit, nil, nil)
			wantProblem(t, rec, http.StatusBadRequest, "invalid-request")
		})
	}
}

func TestGetImage(t *testing.T) {
	t.Parallel()
	b := setup(t, &fakeCatalog{getImage: func(_ context.Context, id string) (catalog.Image, error) {
		if id != "img-1" {
			return catalog.Image{}, catalog.ErrNotFound
		}
		return catalog.Image{ID: id, Width: 640, Quality: &catalog.QualityReport{Sharpness: 0.5}}, nil
	}}, nil)
	t.Run("found", func(t *testing.T) {
		t.Parallel()
		rec := b.do(t, http.MethodGet, "/v1/images/img-1", nil, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("status: got %d, want 200", rec.Code)
		}
		var img catalog.Image
		if err := json.Unmarshal(rec.Body.Bytes(), &img); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if img.ID != "img-1" || img.Width != 640 || img.Quality == nil || img.Quality.Sharpness != 0.5 {
			t.Errorf("image: got %+v, want id img-1, width 640, sharpness 0.5", img)
		}
	})
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		rec := b.do(t, http.MethodGet, "/v1/images/nope", nil, nil)
		wantProblem(t, rec, http.StatusNotFound, "not-found")
	})
}

// closeCounter counts Close calls on content readers.
type closeCounter struct {
	io.Reader
	closed *atomic.Int32
}

func (c closeCounter) Close() error { c.closed.Add(1); return nil }

func TestContentRoutes(t *testing.T) {
	t.Parallel()
	modified := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		target    string
		etag      string // as the catalog returns it
		inm       string // If-None-Match sent
		status    int
		wantETag  string
		wantCache string
	}{
		{"rendition", "/v1/renditions/r1/content", "abc", "", 200, `"abc"`, immutableCache},
		{"rendition quoted etag kept", "/v1/renditions/r1/content", `"abc"`, "", 200, `"abc"`, immutableCache},
		{"rendition if-none-match", "/v1/renditions/r1/content", "abc", `"abc"`, 304, `"abc"`, immutableCache},
		{"rendition weak if-none-match", "/v1/renditions/r1/content", "abc", `"x", W/"abc"`, 304, `"abc"`, immutableCache},
		{"rendition star", "/v1/renditions/r1/content", "abc", `*`, 304, `"abc"`, immutableCache},
		{"rendition other etag", "/v1/renditions/r1/content", "abc", `"zzz"`, 200, `"abc"`, immutableCache},
		{"original", "/v1/images/i1/content", "sha", "", 200, `"sha"`, ""},
		{"original if-none-match", "/v1/images/i1/content", "sha", `"sha"`, 304, `"sha"`, ""},
		{"original weak etag made strong", "/v1/images/i1/content", `W/"sha"`, "", 200, `"sha"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var closed atomic.Int32
			open := func(_ context.Context, id string) (io.ReadCloser, catalog.ObjectMeta, error) {
				if id != "r1" && id != "i1" {
					return nil, catalog.ObjectMeta{}, catalog.ErrNotFound
				}
				return closeCounter{strings.NewReader("PIXELS"), &closed},
					catalog.ObjectMeta{ContentType: "image/webp", Size: 6, ETag: tt.etag, Modified: modified}, nil
			}
			b := setup(t, &fakeCatalog{openOriginal: open, openRendition: open}, nil)
			hdr := map[string]string{}
			if tt.inm != "" {
				hdr["If-None-Match"] = tt.inm
			}
			rec := b.do(t, http.MethodGet, tt.target, nil, hdr)
			if rec.Code != tt.status {
				t.Fatalf("status: got %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("ETag"); got != tt.wantETag {
				t.Errorf("ETag: got %q, want %q", got, tt.wantETag)
			}
			if got := rec.Header().Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("Cache-Control: got %q, want %q", got, tt.wantCache)
			}
			if got := closed.Load(); got != 1 {
				t.Errorf("reader closed: got %d times, want 1", got)
			}
			if tt.status == http.StatusNotModified {
				if rec.Body.Len() != 0 {
					t.Errorf("304 body: got %q, want empty", rec.Body)
				}
				return
			}
			if got := rec.Body.String(); got != "PIXELS" {
				t.Errorf("body: got %q, want PIXELS", got)
			}
			if got := rec.Header().Get("Content-Type"); got != "image/webp" {
				t.Errorf("Content-Type: got %q, want image/webp", got)
			}
			if got := rec.Header().Get("Content-Length"); got != "6" {
				t.Errorf("Content-Length: got %q, want 6", got)
			}
			if got := rec.Header().Get("Last-Modified"); got != "Thu, 02 Jan 2025 03:04:05 GMT" {
				t.Errorf("Last-Modified: got %q, want Thu, 02 Jan 2025 03:04:05 GMT", got)
			}
		})
	}
}

func TestContentNotFound(t *testing.T) {
	t.Parallel()
	open := func(context.Context, string) (io.ReadCloser, catalog.ObjectMeta, error) {
		return nil, catalog.ObjectMeta{}, catalog.ErrNotFound
	}
	b := setup(t, &fakeCatalog{openOriginal: open, openRendition: open}, nil)
	for _, target := range []string{"/v1/images/x/content", "/v1/renditions/x/content"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			rec := b.do(t, http.MethodGet, target, nil, nil)
			wantProblem(t, rec, http.StatusNotFound, "not-found")
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", got)
			}
		})
	}
}

func TestAnalyze(t *testing.T) {
	t.Parallel()
	mp, mpCT := multipartBody(t, [][2]string{{"file", "BYTES"}})
	mpSKU, mpSKUCT := multipartBody(t, [][2]string{{"file", "BYTES"}, {"sku", "A"}})
	tests := []struct {
		name     string
		ct       string
		body     string
		status   int
		slug     string
		wantURL  string
		wantData string
	}{
		{"json url", "application/json", `{"url":"https://e.com/a.jpg"}`, 200, "", "https://e.com/a.jpg", ""},
		{"multipart file", mpCT, mp.String(), 200, "", "", "BYTES"},
		{"raw bytes", "image/png", "BYTES", 200, "", "", "BYTES"},
		{"json with sku is unknown", "application/json", `{"url":"https://e.com/a.jpg","sku":"A"}`, 400, "malformed-json", "", ""},
		{"multipart with sku is unknown", mpSKUCT, mpSKU.String(), 400, "invalid-request", "", ""},
		{"nothing", "application/octet-stream", "", 400, "invalid-request", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := &fakeCatalog{analyze: func(context.Context, string, []byte) (catalog.QualityReport, error) {
				return catalog.QualityReport{Width: 800, Height: 600, Format: "jpeg", JPEGQuality: 70}, nil
			}}
			b := setup(t, fc, nil)
			rec := b.do(t, http.MethodPost, "/v1/analyze", strings.NewReader(tt.body), map[string]string{"Content-Type": tt.ct})
			if tt.slug != "" {
				wantProblem(t, rec, tt.status, tt.slug)
				if n := len(fc.analyzeReq); n != 0 {
					t.Errorf("analyze calls: got %d, want 0", n)
				}
				return
			}
			if rec.Code != tt.status {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			var rep catalog.QualityReport
			if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if rep.Width != 800 || rep.JPEGQuality != 70 {
				t.Errorf("report: got %+v, want width 800 and jpeg quality 70", rep)
			}
			if len(fc.analyzeReq) != 1 {
				t.Fatalf("analyze calls: got %d, want 1", len(fc.analyzeReq))
			}
			if got := fc.analyzeReq[0]; got.URL != tt.wantURL || string(got.Data) != tt.wantData {
				t.Errorf("analyze call: got url %q data %q, want url %q data %q", got.URL, got.Data, tt.wantURL, tt.wantData)
			}
		})
	}
}

func TestHeadServesGetRoutes(t *testing.T) {
	t.Parallel()
	open := func(context.Context, string) (io.ReadCloser, catalog.ObjectMeta, error) {
		return io.NopCloser(strings.NewReader("PIXELS")), catalog.ObjectMeta{ContentType: "image/webp", Size: 6, ETag: "e"}, nil
	}
	b := setup(t, &fakeCatalog{openRendition: open}, nil)
	srv := httptest.NewServer(b.h)
	defer srv.Close()
	resp, err := srv.Client().Head(srv.URL + "/v1/renditions/r1/content")
	if err != nil {
		t.Fatalf("HEAD: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Length"); got != "6" {
		t.Errorf("Content-Length: got %q, want 6", got)
	}
	if got := resp.Header.Get("ETag"); got != `"e"` {
		t.Errorf("ETag: got %q, want %q", got, `"e"`)
	}
}

// An image whose original does not decode in full is still answered by GET, with
// quality_error; a GPU render of it is refused up front as undecodable, not queued.
func TestImageNotDecodableInFull(t *testing.T) {
	t.Parallel()
	b := setup(t, &fakeCatalog{gpuRecipes: true, getImage: func(_ context.Context, id string) (catalog.Image, error) {
		return catalog.Image{ID: id, Width: 640, QualityError: "analyze: premature end of data segment: corrupt image"}, nil
	}}, nil)
	rec := b.do(t, http.MethodGet, "/v1/images/img-1", nil, nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"quality_error":"analyze: premature end`) {
		t.Errorf("GET: %d %s, want 200 with quality_error", rec.Code, rec.Body)
	}
	body := strings.NewReader(`{"recipe":{"steps":[{"op":"upscale","scale":2}],"outputs":[{"name":"main","format":"png"}]}}`)
	rec = b.do(t, http.MethodPost, "/v1/images/img-1/renditions", body, map[string]string{"Content-Type": "application/json"})
	wantProblem(t, rec, http.StatusUnprocessableEntity, "undecodable-image")
}
