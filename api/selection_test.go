package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/auth"
	"github.com/pictor/pictor/catalog"
)

func fptr(f float64) *float64 { return &f }

func TestSelectionFromQuery(t *testing.T) {
	t.Parallel()
	after := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		query string
		want  catalog.Selection
	}{
		{"", catalog.Selection{}},
		{"sku=&id=", catalog.Selection{}},
		{"id=a&id=b&sku=S-1&sku_prefix=S-", catalog.Selection{IDs: []string{"a", "b"}, SKUs: []string{"S-1"}, SKUPrefix: "S-"}},
		{"meta.category=shoes&meta.category=bags&meta.brand=acme", catalog.Selection{Meta: map[string][]string{"category": {"shoes", "bags"}, "brand": {"acme"}}}},
		{"meta.price.min=10&meta.price.max=50.5&meta_missing=colour", catalog.Selection{
			MetaRange: map[string]catalog.Range{"price": {Min: fptr(10), Max: fptr(50.5)}}, MetaMissing: []string{"colour"}}},
		{"width.min=100&shorter_side.max=799&sharpness.max=0.2&jpeg_quality.min=60&bytes.max=1e6&height.min=1&longer_side.max=4000",
			catalog.Selection{Width: &catalog.Range{Min: fptr(100)}, ShorterSide: &catalog.Range{Max: fptr(799)}, Sharpness: &catalog.Range{Max: fptr(0.2)},
				JPEGQuality: &catalog.Range{Min: fptr(60)}, Bytes: &catalog.Range{Max: fptr(1e6)}, Height: &catalog.Range{Min: fptr(1)}, LongerSide: &catalog.Range{Max: fptr(4000)}}},
		{"plain_background=false&has_alpha=true&format=png&format=jpeg", catalog.Selection{PlainBackground: new(false), HasAlpha: new(true), Formats: []string{"png", "jpeg"}}},
		{"ingested_after=2024-05-01T00:00:00Z&has_rendition=listing&lacks_rendition=thumbs", catalog.Selection{IngestedAfter: &after, HasRendition: "listing", LacksRendition: "thumbs"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := selectionFromQuery(q)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	bad := []struct{ query, mention string }{
		{"colour=red&zzz=1", "colour, zzz"},
		{"width.avg=3", "width.avg"},
		{"meta.=x", "meta."},
		{"width.min=500&width.max=100", "width"},
		{"width.min=ten", "width.min"},
		{"sharpness.max=NaN", "sharpness.max"},
		{"width.min=1&width.min=2", "width.min"},
		{"plain_background=yes", "plain_background"},
		{"ingested_after=yesterday", "ingested_after"},
		{"sku_prefix=a&sku_prefix=b", "sku_prefix"},
		{"meta.a%2Fb=x", "meta"},
		{"format=bmp", "formats"},
		{"has_rendition=Bad%20Name", "has_rendition"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.query, func(t *testing.T) {
			t.Parallel()
			q, _ := url.ParseQuery(tt.query)
			_, err := selectionFromQuery(q)
			if !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("got %v, want ErrInvalid naming %s", err, tt.mention)
			}
		})
	}
}

// TestSelectionRoutes runs the selection and metadata routes over the real catalog with
// API keys: PATCH meta needs write, the list and POST select need only read.
func TestSelectionRoutes(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	cfg := DefaultConfig()
	cfg.Keys = tk.keys
	svc := realCatalog(t)(catalog.DefaultConfig())
	reg := prometheus.NewRegistry()
	h, err := New(cfg, Deps{Catalog: svc, Logger: slog.New(slog.DiscardHandler), Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	call := keyedCaller(t, h)
	ids := map[string]string{}
	for _, it := range []struct {
		sku  string
		w, h int
	}{{"S-1", 400, 300}, {"S-2", 200, 100}, {"T-1", 640, 480}} {
		rec := call(http.MethodPost, "/v1/images?sku="+it.sku, tk.write, boxOnWhite(t, it.w, it.h), "image/jpeg")
		if rec.Code != http.StatusCreated {
			t.Fatalf("ingest %s: %d %s", it.sku, rec.Code, rec.Body)
		}
		var res catalog.IngestResult
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		ids[it.sku] = res.Image.ID
	}

	// PATCH meta: write scope, a JSON object of strings and nulls.
	meta := "/v1/images/" + ids["S-1"] + "/meta"
	wantProblem(t, call(http.MethodPatch, meta, tk.read, []byte(`{"category":"shoes"}`), "application/json"), http.StatusForbidden, "insufficient-scope")
	rec := call(http.MethodPatch, meta, tk.write, []byte(`{"Category":"shoes","price":"20","gone":null}`), "application/json")
	if rec.Code != http.StatusOK {
		t.Fatalf("patch meta: %d %s", rec.Code, rec.Body)
	}
	var img catalog.Image
	if err := json.Unmarshal(rec.Body.Bytes(), &img); err != nil {
		t.Fatal(err)
	}
	if img.ID != ids["S-1"] || !reflect.DeepEqual(img.Meta, map[string]string{"category": "shoes", "price": "20"}) {
		t.Errorf("patched image: got %s %v, want %s with category and price", img.ID, img.Meta, ids["S-1"])
	}
	if rec := call(http.MethodPatch, "/v1/images/"+ids["T-1"]+"/meta", tk.write, []byte(`{"category":"bags","price":"80"}`), "application/json"); rec.Code != http.StatusOK {
		t.Fatalf("patch T-1: %d %s", rec.Code, rec.Body)
	}
	wantProblem(t, call(http.MethodPatch, meta, tk.write, []byte(`{"price":20}`), "application/json"), http.StatusBadRequest, "malformed-json")
	wantProblem(t, call(http.MethodPatch, meta, tk.write, []byte(`["price"]`), "application/json"), http.StatusBadRequest, "malformed-json")
	wantProblem(t, call(http.MethodPatch, meta, tk.write, []byte(`{"a/b":"x"}`), "application/json"), http.StatusBadRequest, "invalid-request")
	wantProblem(t, call(http.MethodPatch, "/v1/images/img_nosuch/meta", tk.write, []byte(`{"a":"x"}`), "application/json"), http.StatusNotFound, "not-found")

	// GET /v1/images with a selection, read scope.
	list := func(query string) []string {
		t.Helper()
		rec := call(http.MethodGet, "/v1/images?"+query, tk.read, nil, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("list %s: %d %s", query, rec.Code, rec.Body)
		}
		var l imageList
		if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, img := range l.Images {
			out = append(out, img.SKU)
		}
		return out
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{"S-1", "S-2", "T-1"}},
		{"meta.category=shoes", []string{"S-1"}},
		{"meta.category=shoes&meta.category=bags", []string{"S-1", "T-1"}},
		{"sku_prefix=S-&width.max=300", []string{"S-2"}},
		{"meta.price.min=10&meta.price.max=30", []string{"S-1"}},
		{"meta_missing=category&format=jpeg", []string{"S-2"}},
		{"shorter_side.min=300&plain_background=true", []string{"S-1", "T-1"}},
		{"sku=T-1&sku=S-2&limit=1", []string{"S-2"}},
	} {
		if got := list(tt.query); !slices.Equal(got, tt.want) {
			t.Errorf("list %q: got %v, want %v", tt.query, got, tt.want)
		}
	}
	p := wantProblem(t, call(http.MethodGet, "/v1/images?colour=red&bogus=1&sku=S-1", tk.read, nil, ""), http.StatusBadRequest, "invalid-request")
	if !strings.Contains(p.Detail, "bogus, colour") {
		t.Errorf("unknown parameters: detail %q, want it to name bogus and colour", p.Detail)
	}
	wantProblem(t, call(http.MethodGet, "/v1/images?width.min=500&width.max=100", tk.read, nil, ""), http.StatusBadRequest, "invalid-request")
	wantProblem(t, call(http.MethodGet, "/v1/images?has_rendition=nosuch", tk.read, nil, ""), http.StatusBadRequest, "invalid-request")

	// POST /v1/images/select: read scope, count and the newest as a sample.
	sel := call(http.MethodPost, "/v1/images/select", tk.read, []byte(`{"selection":{"sku_prefix":"S-","meta":{"category":["shoes","bags"]}}}`), "application/json")
	var prev catalog.SelectionPreview
	if sel.Code != http.StatusOK || json.Unmarshal(sel.Body.Bytes(), &prev) != nil {
		t.Fatalf("select: %d %s", sel.Code, sel.Body)
	}
	if prev.Count != 1 || len(prev.Sample) != 1 || prev.Sample[0].SKU != "S-1" || prev.Sample[0].Meta["category"] != "shoes" {
		t.Errorf("select: got %+v, want S-1 with its meta", prev)
	}
	sel = call(http.MethodPost, "/v1/images/select", tk.read, []byte(`{"selection":{"sku_prefix":"S-","plain_background":true},"sample":1}`), "application/json")
	prev = catalog.SelectionPreview{}
	if sel.Code != http.StatusOK || json.Unmarshal(sel.Body.Bytes(), &prev) != nil {
		t.Fatalf("select: %d %s", sel.Code, sel.Body)
	}
	if prev.Count != 2 || prev.Unmeasured != 0 || len(prev.Sample) != 1 || prev.Sample[0].SKU != "S-2" {
		t.Errorf("select sample 1: got %+v, want count 2, sample [S-2]", prev)
	}
	if !strings.Contains(sel.Body.String(), `"unmeasured":0`) {
		t.Errorf("select body %s: want unmeasured", sel.Body)
	}
	wantProblem(t, call(http.MethodPost, "/v1/images/select", "", []byte(`{}`), "application/json"), http.StatusUnauthorized, "unauthorized")
	wantProblem(t, call(http.MethodPost, "/v1/images/select", tk.read, []byte(`{"selection":{"colour":1}}`), "application/json"), http.StatusBadRequest, "malformed-json")
	wantProblem(t, call(http.MethodPost, "/v1/images/select", tk.read, []byte(`{"selection":{},"sample":51}`), "application/json"), http.StatusBadRequest, "invalid-request")
	wantProblem(t, call(http.MethodPost, "/v1/images/select", tk.read, []byte(`{"selection":{"width":{"min":9,"max":1}}}`), "application/json"), http.StatusBadRequest, "invalid-request")
	big := []byte(`{"selection":{"ids":["` + strings.Repeat("x", 1<<20) + `"]}}`)
	wantProblem(t, call(http.MethodPost, "/v1/images/select", tk.read, big, "application/json"), http.StatusRequestEntityTooLarge, "body-too-large")
}

// TestIngestJSONMeta: POST /v1/images JSON carries "meta" (string values only) to the ingest.
func TestIngestJSONMeta(t *testing.T) {
	t.Parallel()
	b := setup(t, &fakeCatalog{ingest: okIngest}, nil)
	rec := b.do(t, http.MethodPost, "/v1/images", strings.NewReader(`{"url":"https://example.com/a.jpg","meta":{"brand":"acme","price":"10"}}`),
		map[string]string{"Content-Type": "application/json"})
	if rec.Code != http.StatusCreated {
		t.Fatalf("ingest: %d %s", rec.Code, rec.Body)
	}
	if calls := b.cat.ingestCalls(); len(calls) != 1 || !reflect.DeepEqual(calls[0].Meta, map[string]string{"brand": "acme", "price": "10"}) {
		t.Errorf("ingest calls: got %+v, want one with the meta", calls)
	}
	for _, body := range []string{`{"url":"https://example.com/a.jpg","meta":{"price":10}}`, `{"url":"https://example.com/a.jpg","meta":["a"]}`} {
		rec := b.do(t, http.MethodPost, "/v1/images", strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
		wantProblem(t, rec, http.StatusBadRequest, "malformed-json")
	}
	if n := len(b.cat.ingestCalls()); n != 1 {
		t.Errorf("ingest calls after bad bodies: got %d, want still 1", n)
	}
}

// TestSelectScope: the preview is a POST that needs only read; other POSTs under
// /v1/images and PATCH of metadata need write.
func TestSelectScope(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		method, path string
		want         auth.Scope
	}{
		{http.MethodPost, "/v1/images/select", auth.ScopeRead},
		{http.MethodPost, "/v1/images/select/", auth.ScopeWrite},
		{http.MethodPut, "/v1/images/select", auth.ScopeWrite},
		{http.MethodPost, "/v1/images", auth.ScopeWrite},
		{http.MethodPatch, "/v1/images/x/meta", auth.ScopeWrite},
	} {
		if got := requiredScope(tt.method, tt.path); got != tt.want {
			t.Errorf("%s %s: got %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}
