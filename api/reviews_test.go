package api

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/storage"
)

// realCatalog opens a database and store for the real catalog on SQLite and a local
// directory; open makes a catalog over them with the given config (the same data each time).
func realCatalog(t *testing.T) (open func(cfg catalog.Config) *catalog.Service) {
	t.Helper()
	dir := t.TempDir()
	d, err := db.Open(context.Background(), db.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := storage.NewLocal(storage.LocalConfig{Dir: filepath.Join(dir, "objects")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fetch.New(fetch.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return func(cfg catalog.Config) *catalog.Service {
		svc, err := catalog.New(cfg, catalog.Deps{DB: d, Store: st, Fetcher: f, Gate: imaging.NewGate(1, 4), Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Init(context.Background()); err != nil {
			t.Fatal(err)
		}
		return svc
	}
}

// boxOnWhite is a product-like JPEG: a coloured box on white filling half the frame.
func boxOnWhite(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{255, 255, 255, 255}
			if x > w/4 && x < 3*w/4 && y > h/4 && y < 3*h/4 {
				c = color.RGBA{uint8(40 + x*150/w), 90, uint8(200 - y*100/h), 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReviewHoldsDelivery: an AI output failing a check is stored but not delivered to a
// read-scope key nor through a signed /img URL, a write-scope reviewer sees it in the queue
// and approves it, and then it is delivered.
func TestReviewHoldsDelivery(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	cfg := DefaultConfig()
	cfg.Keys = tk.keys
	cfg.SigningKeys = [][]byte{signKeyNew}
	svc := realCatalog(t)(catalog.DefaultConfig())
	reg := prometheus.NewRegistry()
	h, err := New(cfg, Deps{Catalog: svc, Reviews: svc, Logger: slog.New(slog.DiscardHandler), Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	call := keyedCaller(t, h)
	recipe := `{"steps": [{"op": "remove_background"}, {"op": "background", "color": "#ffffff"}],
		"outputs": [{"name": "main", "format": "jpeg", "checks": {"background_color": "#ffffff", "product_fill_min": 0.9}}]}`
	if rec := call(http.MethodPut, "/v1/recipes/marketplace", tk.admin, []byte(recipe), "application/json"); rec.Code/100 != 2 {
		t.Fatalf("put recipe: %d %s", rec.Code, rec.Body)
	}
	rec := call(http.MethodPost, "/v1/images?sku=S-1&recipe=marketplace", tk.write, boxOnWhite(t, 400, 300), "image/jpeg")
	if rec.Code != http.StatusCreated {
		t.Fatalf("ingest: %d %s", rec.Code, rec.Body)
	}
	var res catalog.IngestResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	rd := res.Renditions[0]
	if rd.Review != catalog.ReviewPending || rd.Checks == nil || rd.Checks.Passed {
		t.Fatalf("rendition review %q checks %s: want pending with a failing report in the answer", rd.Review, rd.Checks)
	}
	content := "/v1/renditions/" + rd.ID + "/content"
	img := imgURL(signKeyNew, "marketplace", res.Image.ID, "jpeg", 0)

	wantHeld := func(rec *httptest.ResponseRecorder, what string) {
		t.Helper()
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "held-for-review") {
			t.Errorf("%s: %d %s, want 403 held-for-review", what, rec.Code, rec.Body)
		}
	}
	wantImage := func(rec *httptest.ResponseRecorder, what string) {
		t.Helper()
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/jpeg" {
			t.Errorf("%s: %d %s, want 200 image/jpeg", what, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	wantHeld(call(http.MethodGet, content, tk.read, nil, ""), "read key, held rendition")
	wantHeld(call(http.MethodGet, img, "", nil, ""), "signed /img, held rendition")
	reviewer := call(http.MethodGet, content, tk.write, nil, "")
	wantImage(reviewer, "write key (a reviewer), held rendition")
	if cc := reviewer.Header().Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("reviewer's copy Cache-Control %q, want no-store", cc)
	}

	if rec := call(http.MethodGet, "/v1/reviews", tk.read, nil, ""); rec.Code != http.StatusForbidden {
		t.Errorf("review queue with a read key: %d, want 403", rec.Code)
	}
	rec = call(http.MethodGet, "/v1/reviews?check=product_fill", tk.write, nil, "")
	var page catalog.ReviewPage
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("review queue: %d %s", rec.Code, rec.Body)
	}
	if page.Total != 1 || page.Reviews[0].ID != rd.ID || page.Reviews[0].SKU != "S-1" {
		t.Fatalf("review queue %+v, want the held rendition", page)
	}
	for _, bad := range []string{"/v1/reviews?state=maybe", "/v1/reviews?limit=0", "/v1/reviews?check=no%25pe", "/v1/reviews?nope=1", "/v1/reviews?cursor=x"} {
		if rec := call(http.MethodGet, bad, tk.write, nil, ""); rec.Code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", bad, rec.Code)
		}
	}
	for _, bad := range []string{`{"ids": ["` + rd.ID + `"], "decision": "reject"}`, `{"decision": "approve"}`,
		`{"ids": ["` + rd.ID + `"], "decision": "maybe"}`, `{"ids": ["` + rd.ID + `"], "filter": {}, "decision": "approve"}`} {
		if rec := call(http.MethodPost, "/v1/reviews/decide", tk.write, []byte(bad), "application/json"); rec.Code != http.StatusBadRequest {
			t.Errorf("decide %s: %d %s, want 400", bad, rec.Code, rec.Body)
		}
	}
	if rec := call(http.MethodPost, "/v1/reviews/decide", tk.write, []byte(`{"ids": ["rnd_000000000000000000000000"], "decision": "approve"}`), "application/json"); rec.Code != http.StatusNotFound {
		t.Errorf("decide an unknown rendition: %d, want 404", rec.Code)
	}
	rec = call(http.MethodPost, "/v1/reviews/decide", tk.admin, []byte(`{"ids": ["`+rd.ID+`"], "decision": "approve", "reason": "ok for this shot"}`), "application/json")
	var ans decideAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("approve: %d %s", rec.Code, rec.Body)
	}
	if ans.Decided != 1 || ans.Reviews[0].State != catalog.ReviewApproved || ans.Reviews[0].Reviewer != "ops" {
		t.Errorf("approve answer %+v, want approved by the admin key's name", ans)
	}
	wantImage(call(http.MethodGet, content, tk.read, nil, ""), "read key, approved rendition")
	wantImage(call(http.MethodGet, img, "", nil, ""), "signed /img, approved rendition")

	// A rejected rendition is made again with another recipe; only rejected ones are.
	retry := "/v1/reviews/" + rd.ID + "/retry"
	looser := `{"recipe": {"steps": [{"op": "remove_background"}, {"op": "background", "color": "#ffffff"}],
		"outputs": [{"name": "main", "format": "jpeg", "checks": {"product_fill_min": 0.3}}]}}`
	if rec := call(http.MethodPost, retry, tk.write, []byte(looser), "application/json"); rec.Code != http.StatusBadRequest {
		t.Errorf("retry of an approved rendition: %d %s, want 400", rec.Code, rec.Body)
	}
	if rec := call(http.MethodPost, "/v1/reviews/decide", tk.write, []byte(`{"ids": ["`+rd.ID+`"], "decision": "reject", "reason": "product too small"}`), "application/json"); rec.Code != http.StatusOK {
		t.Fatalf("reject: %d %s", rec.Code, rec.Body)
	}
	wantHeld(call(http.MethodGet, content, tk.read, nil, ""), "read key, rejected rendition")
	if rec := call(http.MethodPost, retry, tk.write, []byte(`{}`), "application/json"); rec.Code != http.StatusBadRequest {
		t.Errorf("retry with nothing to vary (no seeded step, no recipe): %d %s, want 400", rec.Code, rec.Body)
	}
	rec = call(http.MethodPost, retry, tk.write, []byte(looser), "application/json")
	var again renditionList
	if err := json.Unmarshal(rec.Body.Bytes(), &again); err != nil || rec.Code != http.StatusCreated {
		t.Fatalf("retry with another recipe: %d %s", rec.Code, rec.Body)
	}
	if nr := again.Renditions[0]; nr.ID == rd.ID || nr.Review != "" || nr.Checks == nil || !nr.Checks.Passed {
		t.Errorf("retried rendition %+v: want a new, published rendition with passing checks", nr)
	}
}
